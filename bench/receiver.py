"""A fast webhook receiver for the benchmarks: counts requests and notes when each arrived.

``python -m bench.receiver PORT``; ``GET /wait?count=N`` answers once N have arrived (408 after
``within`` seconds), ``GET /stats`` returns the arrivals, ``POST /reset`` clears them.

A run waits with ``/wait`` rather than by polling a count: polling every 10 ms cost the
benchmark's own process and this receiver about a sixth of a core, on the same two cores as
the worker being measured.
"""

import asyncio
import sys
import time

from aiohttp import web

arrivals: dict[str, float] = {}
waiters: list[tuple[int, asyncio.Future[None]]] = []


def _wake() -> None:
    arrived = len(arrivals)
    for count, waiter in waiters:
        if arrived >= count and not waiter.done():
            waiter.set_result(None)
    waiters[:] = [(count, waiter) for count, waiter in waiters if not waiter.done()]


async def hook(request: web.Request) -> web.Response:
    await request.read()
    arrivals[request.headers.get("webhook-id", str(len(arrivals)))] = time.time()
    if waiters:
        _wake()
    return web.Response(text="ok")


async def wait(request: web.Request) -> web.Response:
    wanted = int(request.query["count"])
    within = float(request.query.get("within", "60"))
    if len(arrivals) < wanted:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters.append((wanted, waiter))
        try:
            await asyncio.wait_for(waiter, within)
        except TimeoutError:
            return web.Response(status=408, text=str(len(arrivals)))
    return web.Response(text=str(len(arrivals)))


async def stats(request: web.Request) -> web.Response:
    return web.json_response({"count": len(arrivals), "arrivals": arrivals})


async def reset(request: web.Request) -> web.Response:
    arrivals.clear()
    return web.Response(text="ok")


def main() -> None:
    app = web.Application()
    app.add_routes(
        [
            web.post("/hook", hook),
            web.get("/wait", wait),
            web.get("/stats", stats),
            web.post("/reset", reset),
        ]
    )
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
