"""A fast webhook receiver for the benchmarks: counts requests and notes when each arrived.

``python -m bench.receiver PORT``; ``GET /count`` returns how many arrived (cheap: it is polled
while a run goes on), ``GET /stats`` the arrivals too, ``POST /reset`` clears them.
"""

import sys
import time

from aiohttp import web

arrivals: dict[str, float] = {}


async def hook(request: web.Request) -> web.Response:
    await request.read()
    arrivals[request.headers.get("webhook-id", str(len(arrivals)))] = time.time()
    return web.Response(text="ok")


async def count(request: web.Request) -> web.Response:
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
            web.get("/count", count),
            web.get("/stats", stats),
            web.post("/reset", reset),
        ]
    )
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
