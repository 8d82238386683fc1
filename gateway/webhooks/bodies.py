"""What the gateway and the worker read of a body a server they do not run sent: never more
than a cap, read as it arrives, so a far side that streams without end costs a chunk's memory,
not all it sends. A webhook receiver's reply is kept to its cap (``worker.delivery``); an
upstream's answer (``upstreams.clients``) and Stripe's
(``billing.channels.providers.stripe_client``) are refused past theirs, since a JSON body cut short
is no answer. The time a read may take is the caller's deadline on the whole exchange
(``WebhookTransport``'s read timeout, Stripe's own
``timeout``).

Bytes are counted as sent, never decoded: a compressed body could grow a thousandfold in the
decoder, past any cap counted after it. Callers ask for ``Accept-Encoding: identity`` and refuse
an answer that is encoded all the same (``encoded``)."""

import httpx

__all__ = ["BodyTooLarge", "encoded", "read_capped", "read_stream_capped"]


class BodyTooLarge(Exception):
    """A body longer than the cap its reader allows whole."""

    def __init__(self, cap: int) -> None:
        super().__init__(f"answer longer than {cap} bytes")
        self.cap = cap


def encoded(response: httpx.Response) -> bool:
    """Whether the body is sent in a content coding (gzip, br, ...), not as itself."""
    coding = response.headers.get("content-encoding", "").strip().lower()
    return coding not in ("", "identity")


async def read_capped(response: httpx.Response, cap: int, *, whole: bool = False) -> bytes:
    """At most ``cap`` bytes of the body as sent; the rest is never read (the caller closes the
    response, which drops the connection). ``whole``: a body longer than ``cap`` is refused
    (``BodyTooLarge``) rather than cut. Read from the response's stream as the transport hands
    it over: ``aiter_raw``'s chunking and bookkeeping cost more than reading a webhook reply."""
    stream = response.stream
    assert isinstance(stream, httpx.AsyncByteStream)
    return await read_stream_capped(stream, cap, whole=whole)


async def read_stream_capped(
    stream: httpx.AsyncByteStream, cap: int, *, whole: bool = False
) -> bytes:
    """``read_capped`` of a body stream a transport handed over without a response around it
    (``WebhookTransport.post``)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        chunks.append(chunk)
        size += len(chunk)
        if size > cap or (size == cap and not whole):
            break
    if size > cap and whole:
        raise BodyTooLarge(cap)
    return b"".join(chunks)[:cap]
