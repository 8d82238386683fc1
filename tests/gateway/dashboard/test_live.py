"""The live stream (server-sent events) is bounded: a first update at once, heartbeats, an end
after its lifetime, ``signed-out`` within a poll when the session goes, caps per user and per
process; and one poll of the store serves every stream of the process."""

import asyncio
import hashlib
import json
import time
from asyncio import FIRST_COMPLETED
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from gateway.dashboard import figures, live
from gateway.dashboard.context import COOKIE
from gateway.mail.links import RecipientLink, recipient_token
from gateway.store.engine import Database
from gateway.store.models import DashboardSession, Merchant, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.core import TEST_SECRET, live_server, local_client, make_settings, wait_until
from tests.fixtures.dashboard import csrf_of, sign_up_on

_MER = table_of(Merchant)


@pytest.fixture(scope="module")
async def root(settings: Settings) -> AsyncIterator[str]:
    async with live_server(settings) as url:
        yield url


@asynccontextmanager
async def _signed_in(root: str) -> AsyncIterator[httpx.AsyncClient]:
    async with local_client(base_url=f"{root}/dashboard", follow_redirects=False) as client:
        await sign_up_on(client)
        yield client


async def _events(stream: httpx.Response) -> AsyncIterator[str]:
    """Each event's first line (``event: …``, or ``:`` for a comment)."""
    async for block in stream.aiter_text():
        for event in block.split("\n\n"):
            if event.strip():
                yield event.strip().splitlines()[0]


async def _drained(lines: AsyncIterator[str]) -> None:
    """Until the stream ends."""
    async for _ in lines:
        pass


async def _opened(stack: AsyncExitStack, client: httpx.AsyncClient) -> AsyncIterator[str]:
    """A stream held open until ``stack`` closes, its first update read; its further events
    (keep the iterator: dropping it closes the stream)."""
    stream = await stack.enter_async_context(client.stream("GET", "/live"))
    assert stream.status_code == 200, await stream.aread()
    lines = _events(stream)
    assert (await anext(lines)).startswith("retry:")
    assert await anext(lines) == "event: update"
    return lines


async def test_the_stream_is_bounded(root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "HEARTBEAT_SECONDS", 0.2)
    monkeypatch.setattr(live, "MAX_LIFETIME_SECONDS", 1.0)
    async with _signed_in(root) as client:
        started = time.monotonic()
        async with client.stream("GET", "/live") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-store"
            seen = [line async for line in _events(stream)]
        took = time.monotonic() - started
    assert seen[0].startswith("retry:")
    assert seen[1] == "event: update"
    assert ": keep-alive" in seen
    assert 1.0 <= took < 10.0  # ended at its lifetime, with room for a busy machine's lag


async def test_a_signed_out_session_ends_its_stream_within_a_poll(root: str) -> None:
    async with _signed_in(root) as client:
        token = csrf_of((await client.get("/")).text)
        async with client.stream("GET", "/live") as stream:
            lines = _events(stream)
            assert (await anext(lines)).startswith("retry:")
            assert await anext(lines) == "event: update"
            # Signed out elsewhere (another tab): the stream says so and ends, at once.
            async with local_client(base_url=f"{root}/dashboard", cookies=client.cookies) as other:
                assert (
                    await other.post("/sign-out", data={"csrf_token": token})
                ).status_code == 303
            signed_out = time.monotonic()
            rest = [line async for line in lines]
            took = time.monotonic() - signed_out
        assert rest == ["event: signed-out"]
        assert took < 10.0  # one poll (1 s) and a busy machine's lag, not the heartbeat's 15 s
        assert (await client.get("/live")).status_code == 303


async def test_a_session_ended_through_another_process_or_expired_ends_its_stream(
    root: str, settings: Settings, db: Database
) -> None:
    # Signed out through another gateway process: this one learns it from the store.
    async with (
        live_server(settings) as elsewhere,
        _signed_in(root) as client,
        AsyncExitStack() as stack,
    ):
        token = csrf_of((await client.get("/")).text)
        lines = await _opened(stack, client)
        async with local_client(base_url=f"{elsewhere}/dashboard", cookies=client.cookies) as other:
            assert (await other.post("/sign-out", data={"csrf_token": token})).status_code == 303
        ended = time.monotonic()
        assert [line async for line in lines] == ["event: signed-out"]
        assert time.monotonic() - ended < 3.0
    # Expired: the session's row says so, nothing else happens.
    sessions = table_of(DashboardSession)
    async with _signed_in(root) as client, AsyncExitStack() as stack:
        lines = await _opened(stack, client)
        id_hash = hashlib.sha256(client.cookies[COOKIE].encode()).hexdigest()
        async with db.transaction() as conn:
            await conn.execute(
                update(sessions).where(sessions.c.id_hash == id_hash).values(expires_at=utcnow())
            )
        ended = time.monotonic()
        assert [line async for line in lines] == ["event: signed-out"]
        assert time.monotonic() - ended < 3.0


async def test_switching_environment_ends_the_stream_for_a_fresh_one(root: str) -> None:
    async with _signed_in(root) as client, AsyncExitStack() as stack:
        token = csrf_of((await client.get("/")).text)
        lines = await _opened(stack, client)
        switched = await client.post("/env", data={"env": "live", "csrf_token": token})
        assert switched.status_code == 303
        ended = time.monotonic()
        assert [line async for line in lines] == []  # the end, and the browser reconnects
        assert time.monotonic() - ended < 3.0
        fresh = await _opened(stack, client)
        assert fresh is not None


async def test_one_poll_serves_every_stream_of_a_view(
    database_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[None] = []
    fingerprint = figures.fingerprint

    async def counted(*args: Any) -> tuple[Any, ...]:
        asked.append(None)
        return await fingerprint(*args)

    monkeypatch.setattr(figures, "fingerprint", counted)
    settings = make_settings(database_url, redis_url, live_streams_per_user=20)
    async with live_server(settings) as url, _signed_in(url) as client, AsyncExitStack() as stack:
        held = [await _opened(stack, client) for _ in range(12)]
        asked.clear()
        began = time.monotonic()

        async def polled_twice() -> bool:
            return time.monotonic() - began >= 2.5

        await wait_until(polled_twice, within=5, interval=0.1)
        # Twelve streams each reading every second would have asked about 30 times.
        assert 1 <= len(asked) <= 4
        assert len(held) == 12


async def test_streams_are_capped_per_user_and_per_process(
    database_url: str, redis_url: str
) -> None:
    settings = make_settings(
        database_url, redis_url, live_streams_per_user=2, live_streams_per_process=3
    )
    async with (
        live_server(settings) as url,
        _signed_in(url) as alice,
        _signed_in(url) as bob,
        _signed_in(url) as carol,
        _signed_in(url) as dave,
        AsyncExitStack() as stack,
    ):
        held = [await _opened(stack, alice)]
        second = AsyncExitStack()
        held.append(await _opened(second, alice))
        over = await alice.get("/live")
        assert over.status_code == 429
        assert over.headers["retry-after"] == "30"
        envelope = over.json()
        assert (envelope["success"], envelope["code"]) == (False, 2205)
        held.append(await _opened(stack, bob))  # another user: the process's third
        # Full, with Alice's merchant two over Carol's: one of Alice's ends to make room.
        held.append(await _opened(stack, carol))
        drained = [asyncio.create_task(_drained(lines)) for lines in held[:2]]
        done, going = await asyncio.wait(drained, timeout=30, return_when=FIRST_COMPLETED)
        assert len(done) == 1  # one of Alice's two ended, the other goes on
        # Now no merchant holds more than one over a newcomer's: the process is full.
        refused = await dave.get("/live")
        for task in going:  # its stream is left open until here (cancelled, it would close)
            task.cancel()
        assert (refused.status_code, refused.json()["code"]) == (429, 2205)
        # The page itself still works past the cap.
        assert (await dave.get("/")).status_code == 200
        await second.aclose()  # Alice's ended stream, closed here too

        async def room() -> bool:
            async with dave.stream("GET", "/live") as stream:
                return stream.status_code == 200

        await stack.aclose()  # every stream ends: room again
        await wait_until(room, within=5)


async def test_a_merchant_takes_its_share_of_the_streams_never_the_others(
    database_url: str, redis_url: str, db: Database
) -> None:
    """Its users' overviews and its recipients' pages count against one merchant's share; past
    it the merchant's next stream gets 429 while another merchant's still opens."""
    settings = make_settings(
        database_url,
        redis_url,
        live_streams_per_user=5,
        live_streams_per_process=50,
        live_streams_per_merchant=3,
    )
    sealer = Sealer(TEST_SECRET.encode())
    async with (
        live_server(settings) as url,
        local_client(base_url=f"{url}/dashboard") as alice,
        _signed_in(url) as bob,
        AsyncExitStack() as stack,
    ):
        account = await sign_up_on(alice)
        async with db.read() as conn:
            merchant_id = (
                await conn.execute(select(_MER.c.id).where(_MER.c.name == account.merchant_name))
            ).scalar_one()

        def recipient_page(n: int) -> str:
            link = RecipientLink(
                merchant_id, "staging", f"r{n}@example.com", utcnow() + timedelta(hours=1)
            )
            return f"/recipient/{recipient_token(sealer, link)}/live"

        held = [await _opened(stack, alice) for _ in range(2)]
        page = await stack.enter_async_context(alice.stream("GET", recipient_page(1)))
        assert page.status_code == 200  # its third: the share's last
        for path in ("/live", recipient_page(2)):
            async with alice.stream("GET", path) as over:
                assert over.status_code == 429, path  # not a stream held open
                assert json.loads(await over.aread())["code"] == 2205
                assert over.headers["retry-after"] == "30"
        held.append(await _opened(stack, bob))  # another merchant still opens its own
        assert len(held) == 3
