"""The worker's POST and its client on their own, against real sockets on 127.0.0.1."""

import asyncio
import time

import httpx
import pytest

from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from gateway.webhooks.destinations.http import RESPONSE_CAP, post, retry_after_seconds
from gateway.webhooks.transport import WebhookTransport
from tests.fixtures.webhooks import Receiver, Reply
from worker.http import build_clients


def _loose() -> WebhookTransport:
    return WebhookTransport(allow_loopback=True, limits=httpx.Limits(max_connections=4))


async def test_a_redirect_is_never_followed(receiver: Receiver) -> None:
    target = Receiver()
    await target.start()
    receiver.respond = lambda _: Reply(status=307, headers={"Location": target.url})
    sender = _loose()
    result = await post(sender, receiver.url, b"{}", {}, 5)
    await sender.aclose()
    await target.stop()
    assert len(receiver.received) == 1 and target.connections == 0
    assert result.error == f"redirect not followed: HTTP 307 to {target.url}"
    assert not result.succeeded


async def test_the_body_read_is_capped(receiver: Receiver) -> None:
    receiver.respond = lambda _: Reply(body=b"y" * (RESPONSE_CAP * 10))
    sender = _loose()
    result = await post(sender, receiver.url, b"{}", {}, 5)
    await sender.aclose()
    assert result.succeeded and result.body == "y" * RESPONSE_CAP


async def test_the_deadline_covers_the_whole_exchange() -> None:
    """A receiver that sends a byte every 0.1 s never leaves a read waiting long, and is still
    cut off at the deadline."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        try:
            for _ in range(1000):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.1)  # the receiver's trickle, what is under test
        except ConnectionError:
            return
        finally:
            writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = _loose()
    started = time.monotonic()
    result = await post(sender, f"http://127.0.0.1:{port}/", b"{}", {}, 0.5)
    took = time.monotonic() - started
    await sender.aclose()
    server.close()
    await server.wait_closed()
    assert result.error == "timeout: no complete response within 0.5s"
    # Cut at its deadline, not when the trickle ends (100 s); the upper bound leaves a busy
    # machine's lag room.
    assert 0.45 <= took < 10.0


def test_retry_after_forms_and_cap() -> None:
    now = utcnow()
    assert retry_after_seconds("120", now) == 120
    assert retry_after_seconds("999999", now) == 3600
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now) == 0


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "2130706433", "[::1]", "0.0.0.0", "[::ffff:127.0.0.1]"]
)
async def test_the_guard_refuses_before_connecting(host: str) -> None:
    accepted: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = WebhookTransport(allow_loopback=False, limits=httpx.Limits(max_connections=4))
    with pytest.raises(httpx.ConnectError, match="blocked"):
        await transport.handle_async_request(httpx.Request("POST", f"http://{host}:{port}/"))
    await transport.aclose()
    server.close()
    await server.wait_closed()
    assert accepted == []


async def test_live_never_gets_the_loopback_client(settings: Settings) -> None:
    loose = settings.model_copy(update={"allow_private_webhook_urls": True})
    outbound = build_clients(loose, max_connections=4)
    try:
        assert outbound["live"] is not outbound["staging"]
        assert outbound["live"].transport is not outbound["staging"].transport
        with pytest.raises(httpx.ConnectError, match="blocked"):
            await outbound["live"].client.post("http://127.0.0.1:9/hook")
        live = await post(outbound["live"].transport, "http://127.0.0.1:9/hook", b"{}", {}, 5)
        assert live.error is not None and "blocked" in live.error
    finally:
        for out in outbound.values():
            await out.client.aclose()


async def test_a_receivers_cookie_is_never_sent_back(
    settings: Settings, receiver: Receiver
) -> None:
    receiver.respond = lambda _: Reply(headers={"Set-Cookie": "session=abc; Path=/"})
    loose = settings.model_copy(update={"allow_private_webhook_urls": True})
    outbound = build_clients(loose, max_connections=4)
    try:
        for _ in range(2):
            sent = await post(outbound["staging"].transport, receiver.url, b"{}", {}, 5)
            assert sent.succeeded and sent.headers is not None
            assert sent.headers["set-cookie"] == "session=abc; Path=/"
        # The shared client, too, keeps what it is sent to itself.
        await outbound["staging"].client.post(receiver.url, content=b"{}")
    finally:
        await outbound["staging"].client.aclose()
    assert len(receiver.received) == 3
    assert all("cookie" not in request.headers for request in receiver.received)
    assert receiver.received[2].headers["user-agent"] == "aiTopUp-Webhooks/1"
