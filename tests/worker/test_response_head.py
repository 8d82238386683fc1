"""A receiver's response head is bounded: the status line, the header count and the header bytes
are capped on the wire, the attempt fails past them, the connection is dropped, the attempt row
keeps a bounded subset of what was within them, and a worker answered with huge heads round
after round keeps its memory flat."""

import asyncio
import json
import sys
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import DeliveryAttempt, WebhookDelivery, table_of
from gateway.values.settings import Settings
from gateway.webhooks.connections import HeadLimits, HeadTooLarge
from gateway.webhooks.destinations.http import STORED_HEADERS, STORED_NAME, STORED_VALUE, post
from gateway.webhooks.transport import WebhookTransport
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Receiver, Reply, emit_test_events, make_endpoint
from tests.fixtures.workers import StartWorker
from worker.http import build_clients, head_limits

_D = table_of(WebhookDelivery)
_A = table_of(DeliveryAttempt)

SMALL = HeadLimits(line=256, count=10, size=2048)


def _transport(limits: HeadLimits = SMALL) -> WebhookTransport:
    return WebhookTransport(
        allow_loopback=True, limits=httpx.Limits(max_connections=4), head_limits=limits
    )


def _head(*lines: bytes, status: bytes = b"200 OK") -> bytes:
    return b"HTTP/1.1 " + status + b"\r\n" + b"".join(line + b"\r\n" for line in lines) + b"\r\n"


def _ok(*lines: bytes, status: bytes = b"200 OK") -> bytes:
    return _head(b"Content-Length: 2", *lines, status=status) + b"ok"


@pytest.fixture
async def answer() -> AsyncIterator[Callable[[bytes], Awaitable[Receiver]]]:
    """A receiver answering every request with the same bytes."""
    started: list[Receiver] = []

    async def start(raw: bytes) -> Receiver:
        server = Receiver()
        server.respond = lambda _: Reply(raw=raw)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


TOO_LARGE = [
    (
        _ok(*(b"X-H%d: v" % n for n in range(11))),
        "response headers too large: more than 10 headers",
    ),
    (
        _ok(b"X-A: " + b"a" * 1500, b"X-B: " + b"b" * 600),
        "response headers too large: more than 2048 bytes",
    ),
    (_ok(status=b"200 " + b"O" * 300), "response status line too long: more than 256 bytes"),
    # A head that never ends: one endless header value.
    (b"HTTP/1.1 200 OK\r\nX-Pad: " + b"p" * 200_000, "response headers too large: more than"),
    # Interim replies without end: the final head never comes.
    (b"HTTP/1.1 100 Continue\r\n\r\n" * 10_000, "response headers too large: more than"),
]


@pytest.mark.parametrize(("raw", "error"), TOO_LARGE)
async def test_a_head_past_a_cap_fails_the_attempt_and_drops_the_connection(
    answer: Callable[[bytes], Awaitable[Receiver]], raw: bytes, error: str
) -> None:
    server = await answer(raw)
    sender = _transport()
    with pytest.raises(HeadTooLarge, match=error):
        await sender.handle_async_request(httpx.Request("POST", server.url, content=b"{}"))
    result = await post(sender, server.url, b"{}", {}, 5)
    await sender.aclose()
    assert result.error is not None and result.error.startswith(error), result.error
    assert result.status is None and result.headers is None and not result.succeeded
    # Nothing of the failed exchange was kept: each request went on a connection of its own.
    assert server.connections == 2


async def test_a_head_at_the_caps_passes(answer: Callable[[bytes], Awaitable[Receiver]]) -> None:
    # Ten headers (Content-Length one of them), 2,048 bytes of names and values, a 256-byte reason.
    names_and_values = len(b"Content-Length") + 1
    lines = [b"X-H%d: v" % n for n in range(8)]
    names_and_values += sum(len(b"X-Hn") + 1 for _ in lines)
    filler = 2048 - names_and_values - len(b"X-Fill")
    server = await answer(_ok(*lines, b"X-Fill: " + b"f" * filler, status=b"200 " + b"O" * 256))
    sender = _transport()
    result = await post(sender, server.url, b"{}", {}, 5)
    await sender.aclose()
    assert result.succeeded, result.error
    assert result.body == "ok"


async def test_a_head_split_across_many_reads_is_counted_whole() -> None:
    """A receiver that sends its head a few bytes at a time is held to the same caps."""

    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        try:
            writer.write(b"HTTP/1.1 200 OK\r\n")
            for n in range(100_000):
                writer.write(b"X-H%d: v\r\n" % n)
                await writer.drain()
        except ConnectionError:
            return
        finally:
            writer.close()

    server = await asyncio.start_server(dribble, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = _transport()
    result = await post(sender, f"http://127.0.0.1:{port}/", b"{}", {}, 5)
    await sender.aclose()
    server.close()
    await server.wait_closed()
    assert result.error == "response headers too large: more than 10 headers"


def test_the_caps_come_from_the_settings(settings: Settings) -> None:
    assert head_limits(settings) == HeadLimits(line=8 * 1024, count=100, size=64 * 1024)
    tight = settings.model_copy(
        update={
            "webhook_max_response_line_bytes": 100,
            "webhook_max_response_headers": 5,
            "webhook_max_response_header_bytes": 2000,
        }
    )
    assert head_limits(tight) == HeadLimits(line=100, count=5, size=2000)


async def test_the_settings_reach_the_worker_transport(
    settings: Settings, answer: Callable[[bytes], Awaitable[Receiver]]
) -> None:
    server = await answer(_ok(*(b"X-H%d: v" % n for n in range(6))))
    tight = settings.model_copy(
        update={"allow_private_webhook_urls": True, "webhook_max_response_headers": 5}
    )
    outbound = build_clients(tight, max_connections=4)
    try:
        result = await post(outbound["staging"].transport, server.url, b"{}", {}, 5)
    finally:
        await outbound["staging"].client.aclose()
    assert result.error == "response headers too large: more than 5 headers"


async def test_the_attempt_keeps_a_bounded_subset_of_the_headers(receiver: Receiver) -> None:
    """Within the caps (the defaults), a head can still be 64 KiB: the attempt row keeps the
    first headers, each cut short. Retry-After is read from all of them, wherever it is."""
    headers = {"X-" + "N" * 300: "long name"}
    headers.update({f"X-Filler-{n:02d}": "v" * 900 for n in range(60)})
    headers["Retry-After"] = "7"
    receiver.respond = lambda _: Reply(status=429, headers=headers)
    sender = WebhookTransport(allow_loopback=True, limits=httpx.Limits(max_connections=4))
    result = await post(sender, receiver.url, b"{}", {}, 5)
    await sender.aclose()
    assert result.status == 429 and result.error == "HTTP 429"
    assert result.retry_after == "7"
    kept = result.headers
    assert kept is not None and len(kept) == STORED_HEADERS
    assert all(len(k) <= STORED_NAME and len(v) <= STORED_VALUE for k, v in kept.items())
    assert kept["content-length"] == "2" and kept["x-filler-00"] == "v" * STORED_VALUE
    assert kept["x-" + "n" * (STORED_NAME - 2)] == "long name"
    assert "retry-after" not in kept
    assert len(json.dumps(kept)) < STORED_HEADERS * (STORED_NAME + STORED_VALUE + 8)


async def test_repeated_headers_are_joined_and_still_bounded(receiver: Receiver) -> None:
    raw = _ok(*(b"Set-Cookie: c%d=" % n + b"x" * 200 for n in range(60)))
    receiver.respond = lambda _: Reply(raw=raw)
    sender = WebhookTransport(allow_loopback=True, limits=httpx.Limits(max_connections=4))
    result = await post(sender, receiver.url, b"{}", {}, 5)
    await sender.aclose()
    assert result.succeeded and result.headers is not None
    assert result.headers["set-cookie"].startswith("c0=" + "x" * 200 + ", c1=")
    assert len(result.headers["set-cookie"]) == STORED_VALUE


@pytest.mark.parametrize(
    ("line", "kept"),
    [
        ("X-Name: caf\u00e9".encode(), "caf\u00e9"),  # UTF-8
        (b"X-Name: caf\xe9", "caf\u00e9"),  # not UTF-8: read as Latin-1
    ],
)
async def test_a_head_that_is_not_ascii_is_kept_as_httpx_reads_it(
    receiver: Receiver, line: bytes, kept: str
) -> None:
    """The worker's transport hands its reply's header lines over as bytes; they are read as
    an httpx response's are, whichever transport sent the request."""
    raw = _ok(line, b"Location: /a", b"location: /b", status=b"302 Found")
    receiver.respond = lambda _: Reply(raw=raw)
    sender = WebhookTransport(allow_loopback=True, limits=httpx.Limits(max_connections=4))
    result = await post(sender, receiver.url, b"{}", {}, 5)
    await sender.aclose()
    async with httpx.AsyncClient() as client:
        read = await client.post(receiver.url, content=b"{}")
    assert result.headers is not None and result.headers["x-name"] == kept
    assert result.headers["x-name"] == read.headers["x-name"]
    assert result.error == "redirect not followed: HTTP 302 to /a, /b"


# A receiver in a process of its own, so what the test process measures is the worker alone: it
# answers every request with ``HEAD_BYTES`` of head, as many headers or as one.
HEAD_BYTES = 20 * 1024 * 1024
ROOT = Path(__file__).resolve().parents[2]
_RECEIVER = f"""
import asyncio, sys
from tests.fixtures.webhooks import Receiver, Reply

many = b"HTTP/1.1 200 OK\\r\\n" + b"".join(
    b"X-Pad-%06d: " % n + b"p" * 1000 + b"\\r\\n" for n in range({HEAD_BYTES} // 1014)
) + b"Content-Length: 0\\r\\n\\r\\n"
one = b"HTTP/1.1 200 OK\\r\\nX-Pad: " + b"p" * {HEAD_BYTES} + b"\\r\\nContent-Length: 0\\r\\n\\r\\n"

async def main():
    server = Receiver()
    server.respond = lambda request: Reply(raw=many if len(server.received) % 2 else one)
    await server.start()
    print(server.port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await server.stop()

asyncio.run(main())
"""


@pytest.fixture
async def huge_heads() -> AsyncIterator[str]:
    """The URL of a receiver in another process that answers every request with 20 MB of
    head: one header on odd requests, 20,000 on even ones."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _RECEIVER,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        port = int(await asyncio.wait_for(child.stdout.readline(), 30))
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), 10)
        except TimeoutError:
            child.kill()
            await child.wait()


def _resident_bytes() -> int:
    import os

    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _attempts(db: Database, delivery_ids: list[str]) -> list[Any]:
    async with db.read() as conn:
        stmt = select(_A).where(_A.c.delivery_id.in_(delivery_ids)).order_by(_A.c.id)
        return list((await conn.execute(stmt)).all())


ROUNDS = 8


async def test_huge_heads_fail_every_attempt_and_the_worker_memory_stays_flat(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    db: Database,
    hook_settings: Settings,
    huge_heads: str,
) -> None:
    await start_worker(webhook_retry_schedule="0", webhook_timeout_seconds=10)
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, huge_heads)

    async def one_round() -> list[Any]:
        ids = await emit_test_events(db, merchant.merchant_id, 2, redis_url=hook_settings.redis_url)

        async def recorded() -> bool:
            return len(await _attempts(db, ids)) == len(ids)

        await wait_until(recorded, within=20)
        return await _attempts(db, ids)

    await one_round()  # warm: connections, statements, caches
    tracemalloc.start()
    try:
        attempts = await one_round()  # what tracing itself keeps, once
        resident_before = _resident_bytes()
        settled, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(ROUNDS):
            attempts += await one_round()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    resident_grown = _resident_bytes() - resident_before

    assert len(attempts) == 2 * (ROUNDS + 1)
    for attempt in attempts:
        assert attempt.error is not None
        assert attempt.error.startswith("response headers too large: more than"), attempt.error
        assert attempt.response_status is None and attempt.response_headers is None
    # 18 heads of 20 MB each were answered; the worker never held one of them (the peak), and
    # kept nothing of them (what is left after the rounds, and the process's resident memory).
    assert peak - settled < 4 * 1024 * 1024, peak - settled
    assert current - settled < 2 * 1024 * 1024, current - settled
    assert resident_grown < 16 * 1024 * 1024, resident_grown
    # The delivery log serves back the error, not the head.
    delivery = await hook_client.get(
        f"/webhooks/deliveries/{attempts[-1].delivery_id}", headers=merchant.headers
    )
    assert delivery.status_code == 200 and len(delivery.content) < 16 * 1024


async def test_a_large_head_within_the_caps_is_stored_bounded_end_to_end(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
    db: Database,
    hook_settings: Settings,
) -> None:
    """98 headers of 600 bytes (and Content-Length): within every cap, so the attempt succeeds;
    the attempt row and the delivery log keep the first ``STORED_HEADERS`` of them."""
    padding = {f"X-Pad-{n:02d}": "p" * 600 for n in range(98)}
    receiver.respond = lambda _: Reply(headers=padding)
    await start_worker()
    merchant = await make_merchant()
    await make_endpoint(hook_client, merchant, receiver.url)
    [delivery_id] = await emit_test_events(
        db, merchant.merchant_id, 1, redis_url=hook_settings.redis_url
    )

    async def recorded() -> bool:
        return len(await _attempts(db, [delivery_id])) == 1

    await wait_until(recorded)
    [attempt] = await _attempts(db, [delivery_id])
    assert attempt.error is None and attempt.response_status == 200
    kept = attempt.response_headers
    assert len(kept) == STORED_HEADERS
    assert all(len(v) <= STORED_VALUE for v in kept.values())
    delivery = await hook_client.get(
        f"/webhooks/deliveries/{delivery_id}", headers=merchant.headers
    )
    assert delivery.status_code == 200, delivery.text
    assert len(delivery.content) < 64 * 1024
