"""The checked transport's HTTP/1.1 connections against a scripted server on 127.0.0.1: what
goes on the wire, what comes back, and when a connection is kept, retried or dropped."""

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from gateway.webhooks.transport import SEND_BY, TooLate, WebhookTransport
from tests.fixtures.tls import self_signed
from tests.fixtures.webhooks import Received, Receiver, Reply

# What the server does with the n-th request it reads: bytes to write back, or None to close the
# connection without a word.
Script = Callable[[int, bytes], bytes | None]


def ok(body: bytes = b"ok", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    """A receiver that answers each request with the bytes ``script`` gives."""
    started: list[Receiver] = []

    async def start(
        script: Script, tls: ssl.SSLContext | None = None, close_after: bool = False
    ) -> Receiver:
        server = Receiver(tls)

        def respond(request: Received) -> Reply:
            raw = script(len(server.received), request.raw)
            return Reply(mode="close") if raw is None else Reply(raw=raw, last=close_after)

        server.respond = respond
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


def transport(*, resend: bool = True, **limits: float) -> WebhookTransport:
    given = {"max_connections": 8, "max_keepalive_connections": 8, "keepalive_expiry": 30.0}
    given.update(limits)
    return WebhookTransport(
        allow_loopback=True,
        limits=httpx.Limits(**given),  # type: ignore[arg-type]
        resend=resend,
    )


async def post(
    sender: WebhookTransport, url: str, body: bytes = b"{}", **headers: str
) -> httpx.Response:
    client = httpx.AsyncClient(transport=sender, timeout=2)
    response = await client.post(url, content=body, headers=headers)
    return response


async def test_requests_go_out_whole_on_one_kept_connection(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    server = await serve(lambda n, _: ok(b"reply %d" % n))
    sender = transport()
    replies = [
        await post(sender, f"http://127.0.0.1:{server.port}/hook?x=1", b'{"n":%d}' % n)
        for n in range(3)
    ]
    assert [r.text for r in replies] == ["reply 1", "reply 2", "reply 3"]
    assert server.connections == 1
    first = server.received[0].raw
    assert first.startswith(b"POST /hook?x=1 HTTP/1.1\r\n")
    assert b"\r\nHost: 127.0.0.1:%d\r\n" % server.port in first
    assert first.count(b"Content-Length") == 1 and b'Content-Length: 7\r\n\r\n{"n":0}' in first
    assert b"Connection:" not in first and b"connection:" not in first
    await sender.aclose()


@pytest.mark.parametrize(
    "reply",
    [
        ok(extra=b"Connection: close\r\n"),  # the server says so
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",  # HTTP/1.0 without keep-alive
    ],
)
async def test_a_connection_the_server_closes_is_not_kept(
    serve: Callable[..., Awaitable[Receiver]], reply: bytes
) -> None:
    server = await serve(lambda n, _: reply)
    sender = transport()
    for _ in range(2):
        assert (await post(sender, f"http://127.0.0.1:{server.port}/")).text == "ok"
    assert server.connections == 2
    await sender.aclose()


@pytest.mark.parametrize(
    ("reply", "body"),
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
            "abcde",
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"after"), "after"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", ""),
    ],
)
async def test_framings(serve: Callable[..., Awaitable[Receiver]], reply: bytes, body: str) -> None:
    server = await serve(lambda n, _: reply)
    sender = transport()
    for _ in range(2):  # the second proves the first left the connection in step
        assert (await post(sender, f"http://127.0.0.1:{server.port}/")).text == body
    assert server.connections == 1
    await sender.aclose()


async def test_a_body_without_a_length_ends_with_the_connection(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    server = await serve(lambda n, _: b"HTTP/1.1 200 OK\r\n\r\nto the end", close_after=True)
    sender = transport()
    for _ in range(2):
        reply = await post(sender, f"http://127.0.0.1:{server.port}/")
        assert reply.status_code == 200 and reply.text == "to the end"
    assert server.connections == 2
    await sender.aclose()


async def test_a_malformed_reply_is_a_protocol_error(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    server = await serve(lambda n, _: b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n")
    sender = transport()
    with pytest.raises(httpx.RemoteProtocolError, match="malformed response"):
        await post(sender, f"http://127.0.0.1:{server.port}/")
    await sender.aclose()


async def test_a_response_nobody_asked_for_drops_the_connection(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    """Bytes of a second response after the first: the first stands as it was, and the
    connection is not trusted with another request."""
    server = await serve(lambda n, _: ok(b"first %d" % n) + ok(b"extra"))
    sender = transport()
    for n in (1, 2):
        assert (await post(sender, f"http://127.0.0.1:{server.port}/")).text == f"first {n}"
    assert server.connections == 2
    await sender.aclose()


async def test_a_kept_connection_closed_under_the_request_is_retried_once_on_a_new_one(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    # The second request reaches a connection the server drops without answering (an idle
    # timeout racing the reuse); it goes again on a new connection.
    server = await serve(lambda n, _: None if n == 2 else ok(b"%d" % n))
    sender = transport()
    assert (await post(sender, f"http://127.0.0.1:{server.port}/")).text == "1"
    assert (await post(sender, f"http://127.0.0.1:{server.port}/")).text == "3"
    assert server.connections == 2 and len(server.received) == 3
    await sender.aclose()


async def test_without_resend_a_kept_connection_closed_under_the_request_fails_it(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    # The upstreams' transport: the server may have acted on a request it did not answer (New
    # API's create has no idempotency key), so it is not sent again; the caller's retry is safe.
    server = await serve(lambda n, _: None if n == 2 else ok(b"%d" % n))
    sender = transport(resend=False)
    assert (await post(sender, f"http://127.0.0.1:{server.port}/")).text == "1"
    with pytest.raises(httpx.RemoteProtocolError):
        await post(sender, f"http://127.0.0.1:{server.port}/")
    assert len(server.received) == 2
    assert (await post(sender, f"http://127.0.0.1:{server.port}/")).text == "3"
    await sender.aclose()


async def test_a_new_connection_closed_without_a_reply_is_not_retried(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    server = await serve(lambda n, _: None)
    sender = transport()
    with pytest.raises(httpx.RemoteProtocolError, match="disconnected"):
        await post(sender, f"http://127.0.0.1:{server.port}/")
    assert len(server.received) == 1
    await sender.aclose()


async def test_a_header_with_a_line_break_is_never_sent(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    server = await serve(lambda n, _: ok())
    sender = transport()
    request = httpx.Request(
        "POST", f"http://127.0.0.1:{server.port}/", content=b"{}", headers={"X-A": "1\r\nX-B: 2"}
    )
    with pytest.raises(httpx.LocalProtocolError, match="line break"):
        await sender.handle_async_request(request)
    assert server.connections == 0
    await sender.aclose()


async def test_a_post_of_bytes_goes_out_as_an_httpx_request_would(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    """``post`` (the worker's deliveries) writes the same head as a request through httpx: its
    lines in order, ``Host`` and the length the transport's own (a framing header given is
    dropped), UTF-8 text as it is; a line break in a header sends nothing at all."""
    server = await serve(lambda n, _: ok())
    sender = transport()
    url = f"http://127.0.0.1:{server.port}/hook?a=1"
    with pytest.raises(httpx.LocalProtocolError, match="line break"):
        await sender.post(url, {"X-A": "1\r\nX-B: 2"}, b"{}", connect=2, read=2)
    assert server.connections == 0
    headers = {"X-Name": "caf\u00e9", "Content-Length": "99", "transfer-encoding": "chunked"}
    reply = await sender.post(url, headers, b"{}", connect=2, read=2)
    assert reply.status == 200 and (b"Content-Length", b"2") in reply.headers
    assert [chunk async for chunk in reply.body] == [b"ok"]
    await reply.body.aclose()
    request = httpx.Request(
        "POST", url, content=b"{}", headers=[(k.encode(), v.encode()) for k, v in headers.items()]
    )
    response = await sender.handle_async_request(request)
    await response.aread()
    await response.aclose()
    direct, through_httpx = (r.raw for r in server.received)
    assert direct == (
        b"POST /hook?a=1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Name: caf\xc3\xa9\r\n"
        b"Content-Length: 2\r\n\r\n{}" % server.port
    )
    assert through_httpx == direct
    assert server.connections == 1  # the first reply's connection kept and used again
    await sender.aclose()


async def test_a_silent_server_times_out_and_the_connection_is_dropped(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    server = await serve(lambda n, _: b"" if n == 1 else ok())
    sender = transport()
    client = httpx.AsyncClient(transport=sender, timeout=httpx.Timeout(0.2))
    with pytest.raises(httpx.ReadTimeout):
        await client.post(f"http://127.0.0.1:{server.port}/", content=b"{}")
    assert (await client.post(f"http://127.0.0.1:{server.port}/", content=b"{}")).text == "ok"
    assert server.connections == 2
    await sender.aclose()


async def test_an_unread_body_drops_the_connection(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    big = b"x" * (1024 * 1024)
    server = await serve(lambda n, _: ok(big))
    sender = transport()
    url = f"http://127.0.0.1:{server.port}/"
    for _ in range(2):
        response = await sender.handle_async_request(httpx.Request("POST", url, content=b"{}"))
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            assert chunk
            break
        await response.aclose()
    assert server.connections == 2  # never drained for reuse
    await sender.aclose()


async def test_a_request_beyond_the_limit_waits_for_a_slot(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    server = await serve(lambda n, _: ok(b"%d" % n))
    sender = transport(max_connections=1)
    url = f"http://127.0.0.1:{server.port}/"
    first = await sender.handle_async_request(httpx.Request("POST", url, content=b"{}"))
    second = asyncio.ensure_future(
        sender.handle_async_request(httpx.Request("POST", url, content=b"{}"))
    )
    # A window, not a wait for work: that nothing is sent cannot be polled for. It is far longer
    # than a second request let through takes to reach a server on 127.0.0.1; the one connection
    # counted below would see it too.
    await asyncio.sleep(0.05)
    assert not second.done() and len(server.received) == 1
    await first.aread()
    await first.aclose()
    reply = await asyncio.wait_for(second, 2)
    assert await reply.aread() == b"2"
    await reply.aclose()
    assert server.connections == 1
    await sender.aclose()


async def test_a_request_past_its_send_by_writes_nothing_and_keeps_its_connection(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    """A throttled delivery whose connection opened after its ``SEND_BY`` is not sent; the
    connection waits in the pool for its next try, which then needs no connect of its own."""
    server = await serve(lambda n, _: ok(b"%d" % n))
    sender = transport()
    url = f"http://127.0.0.1:{server.port}/"
    late = httpx.Request("POST", url, content=b"{}", extensions={SEND_BY: time.time() - 1})
    with pytest.raises(TooLate):
        await sender.handle_async_request(late)
    reply = await post(sender, url)
    assert reply.text == "1"  # the late one never reached the server
    assert server.connections == 1
    await sender.aclose()


async def test_an_expired_idle_connection_is_not_reused(
    serve: Callable[..., Awaitable[Receiver]],
) -> None:
    server = await serve(lambda n, _: ok())
    sender = transport(keepalive_expiry=0.0)
    for _ in range(2):
        await post(sender, f"http://127.0.0.1:{server.port}/")
    assert server.connections == 2
    await sender.aclose()


async def test_tls_verifies_the_certificate_against_the_host_name(
    serve: Callable[..., Awaitable[Receiver]], tmp_path: Path
) -> None:
    pem, server_side = self_signed(tmp_path)
    server = await serve(lambda n, _: ok(b"secure"), server_side)
    trusting = ssl.create_default_context(cadata=pem)
    limits = httpx.Limits(max_connections=4)
    sender = WebhookTransport(allow_loopback=True, limits=limits, ssl_context=trusting)
    # By name: the name is checked and resolved, the checked address connected to, and the
    # certificate verified against the name.
    assert (await post(sender, f"https://localhost:{server.port}/")).text == "secure"
    # By address: the certificate does not name 127.0.0.1, so the handshake fails.
    with pytest.raises(httpx.ConnectError, match=r"CERTIFICATE_VERIFY_FAILED|match"):
        await post(sender, f"https://127.0.0.1:{server.port}/")
    # A client that does not trust the certificate refuses it.
    strict = WebhookTransport(allow_loopback=True, limits=limits)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await post(strict, f"https://localhost:{server.port}/")
    await sender.aclose()
    await strict.aclose()
