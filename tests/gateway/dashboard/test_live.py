"""The live stream (server-sent events) is bounded: a first update at once, heartbeats, an end
after its lifetime, and ``signed-out`` when the session goes; all read from the store."""

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from gateway.dashboard import live
from gateway.settings import Settings
from tests.fixtures.core import live_server
from tests.gateway.dashboard.conftest import csrf_of, sign_up_on


@pytest.fixture(scope="module")
async def root(settings: Settings) -> AsyncIterator[str]:
    async with live_server(settings) as url:
        yield url


@asynccontextmanager
async def _signed_in(root: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{root}/dashboard", follow_redirects=False) as client:
        await sign_up_on(client)
        yield client


async def _events(stream: httpx.Response) -> AsyncIterator[str]:
    """Each event's first line (``event: …``, or ``:`` for a comment)."""
    async for block in stream.aiter_text():
        for event in block.split("\n\n"):
            if event.strip():
                yield event.strip().splitlines()[0]


async def test_the_stream_is_bounded(root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "POLL_SECONDS", 0.05)
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
    assert 1.0 <= took < 5.0


async def test_a_signed_out_session_ends_its_stream(
    root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(live, "SESSION_RECHECK_SECONDS", 0.1)
    async with _signed_in(root) as client:
        token = csrf_of((await client.get("/")).text)
        async with client.stream("GET", "/live") as stream:
            lines = _events(stream)
            assert (await anext(lines)).startswith("retry:")
            assert await anext(lines) == "event: update"
            # Signed out elsewhere (another tab): the stream says so and ends.
            async with httpx.AsyncClient(
                base_url=f"{root}/dashboard", cookies=client.cookies
            ) as other:
                assert (
                    await other.post("/sign-out", data={"csrf_token": token})
                ).status_code == 303
            rest = [line async for line in lines]
        assert rest == ["event: signed-out"]
        assert (await client.get("/live")).status_code == 303
