"""``python -m bench.send_loop MODE COUNT``: COUNT requests served in this process, between two
points where ``bench.instructions`` reads callgrind's counters.

``send``: the gateway (``gateway.app.app_from_env``, its settings from the environment) answers
``POST /topup/send`` for the key in ``BENCH_KEY``, each request with an ``Idempotency-Key`` of
its own and a recipient of its own, as a real merchant's agent sends. ``bare``: bare Starlette's
JSON route (``bench.bare``), the baseline. Requests go through httpx's ASGI transport: what is
counted is the app, its store and Redis client, not an HTTP server's parsing.

Both modes run on uvloop, the event loop uvicorn serves the gateway on (its choice where uvloop
is installed, as it is with ``uvicorn[standard]``): a served send never runs asyncio's own loop,
whose Python (its ``_run_once``, handles, timer heap) was a quarter of a send's bytecodes when
counted there. ``AITOPUP_BENCH_LOOP=asyncio`` counts on asyncio's own loop, as the counts before
round 8 were.

The protocol on stdin and stdout: ``ready`` once warmed up, then a line from the bench (which
zeroes the counters); ``done`` once COUNT requests are answered, then a line (after the dump).
"""

import asyncio
import json
import os
import sys
import uuid
from collections.abc import Coroutine
from typing import Any

import httpx
import uvloop
from asgi_lifespan import LifespanManager
from starlette.types import ASGIApp

WARM_UP = 20
LOOPS = ("uvloop", "asyncio")


async def _send(client: httpx.AsyncClient, key: str, n: int) -> None:
    for _ in range(n):
        tag = uuid.uuid4().hex
        reply = await client.post(
            "/api/public/v1/topup/send",
            content=json.dumps(
                {"platform": "claude", "amount_cents": 100, "recipient_email": f"{tag}@example.com"}
            ),
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": tag,
            },
        )
        if reply.status_code != 200:
            raise RuntimeError(f"a send answered {reply.status_code}: {reply.text}")


async def _bare(client: httpx.AsyncClient, n: int) -> None:
    for _ in range(n):
        reply = await client.post("/send", content=b'{"hello": "world"}')
        if reply.status_code != 200:
            raise RuntimeError(f"the bare route answered {reply.status_code}")


def _app(mode: str) -> ASGIApp:
    if mode == "send":
        from gateway.app import app_from_env

        return app_from_env()
    from bench.bare import app

    return app


def _step(word: str) -> None:
    print(word, flush=True)
    sys.stdin.readline()


async def main(mode: str, count: int) -> None:
    key = os.environ.get("BENCH_KEY", "")
    # Under callgrind the start (the dummy password hash made on a thread) takes minutes, not
    # the manager's default 5 s; what is counted starts after "ready" anyway.
    async with LifespanManager(_app(mode), startup_timeout=None) as lifespan:
        transport = httpx.ASGITransport(app=lifespan.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def run(n: int) -> None:
                await (_send(client, key, n) if mode == "send" else _bare(client, n))

            await run(WARM_UP)  # compiled statements, caches, pools: what a running server has
            _step("ready")
            await run(count)
            _step("done")


def run_counted(main: Coroutine[Any, Any, None]) -> None:
    """``main`` run to its end on the loop ``AITOPUP_BENCH_LOOP`` names: uvloop unless it says
    ``asyncio``."""
    name = os.environ.get("AITOPUP_BENCH_LOOP", "uvloop")
    if name not in LOOPS:
        main.close()
        raise ValueError(f"AITOPUP_BENCH_LOOP is {name!r}: one of {', '.join(LOOPS)}")
    if name == "uvloop":
        uvloop.run(main)
    else:
        asyncio.run(main)


if __name__ == "__main__":
    run_counted(main(sys.argv[1], int(sys.argv[2])))
