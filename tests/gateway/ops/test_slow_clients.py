"""``aitopup serve`` bounds slow clients as the reverse proxy does (``gateway/ops/deadlines.py``):
real uvicorn on 127.0.0.1, real sockets, clients that trickle a head or pause in a body are cut
off within the bound while a client at a normal pace is answered."""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn

from gateway.values.settings import Settings
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.serving import serve

BOUND = 1.0
SLACK = 2.0  # the loop's timers and a busy machine; far below "for as long as it likes"


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[uvicorn.Server]:
    bounded = settings.model_copy(
        update={
            "server_header_timeout_seconds": BOUND,
            "server_body_timeout_seconds": BOUND,
            "server_keep_alive_seconds": 30,  # not the bound these tests see
        }
    )
    async with serve(bounded) as running:
        yield running


async def _cut_within(reader: asyncio.StreamReader, started: float, limit: float) -> bytes:
    """What the server sent before it closed the connection; fails if it is still open."""
    received = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(4096), limit):
            received += chunk
    except ConnectionResetError:  # cut with data unread in the server's buffer: a reset
        pass
    assert time.monotonic() - started < limit
    return received


async def test_a_client_that_sends_nothing_is_cut_off(server: uvicorn.Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.config.port)
    started = time.monotonic()
    assert await _cut_within(reader, started, BOUND + SLACK) == b""
    assert time.monotonic() - started >= BOUND * 0.9
    writer.close()


async def test_a_head_trickled_byte_by_byte_is_cut_off(server: uvicorn.Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.config.port)
    started = time.monotonic()

    async def trickle() -> None:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: " + b"a" * 1000:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.1)  # the slow client's own pace, not a wait for the server

    dripping = asyncio.create_task(trickle())
    try:
        assert await _cut_within(reader, started, BOUND + SLACK) == b""
    finally:
        dripping.cancel()
        writer.close()


async def test_a_body_that_pauses_is_cut_off(
    server: uvicorn.Server, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.config.port)
    writer.write(
        b"POST /api/public/v1/topup/send HTTP/1.1\r\nHost: gateway\r\n"
        b"Authorization: Bearer " + merchant.key.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n" + b'{"platform":'
    )
    await writer.drain()
    started = time.monotonic()
    # Nothing more: the rest of the body never comes, and nothing is answered.
    assert await _cut_within(reader, started, BOUND + SLACK) == b""
    writer.close()


async def test_a_client_at_a_normal_pace_is_answered(
    server: uvicorn.Server, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.config.port)
    body = json.dumps(
        {"platform": "claude", "amount_cents": 100, "recipient_email": "pace@example.com"}
    ).encode()
    head = (
        b"POST /api/public/v1/topup/send HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n"
        b"Authorization: Bearer %s\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    ) % (merchant.key.encode(), len(body))
    for part in (head[:20], head[20:], body[:10], body[10:]):
        writer.write(part)
        await writer.drain()
        # The client's own pace, what is under test: pauses shorter than the bound.
        await asyncio.sleep(BOUND / 3)
    reply = await asyncio.wait_for(reader.read(), BOUND + SLACK)
    assert reply.startswith(b"HTTP/1.1 200"), reply[:300]
    assert b'"code":1001' in reply
    writer.close()


async def test_a_head_past_its_size_is_cut_off(server: uvicorn.Server) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.config.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n")
    for _ in range(40):
        writer.write(b"X-Pad: " + b"a" * 1000 + b"\r\n")
    started = time.monotonic()
    with contextlib.suppress(ConnectionError):  # cut while still writing: the same answer
        await writer.drain()
    assert await _cut_within(reader, started, BOUND + SLACK) == b""
    writer.close()
