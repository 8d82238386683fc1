"""The soak's webhook receiver, a process of its own: ``python -m bench.soak_receiver PORT``.

Each endpoint's secret comes on stdin, one ``N SECRET`` a line, then an empty line; endpoint N
is ``/hook/N``, and every request's signature is verified with the ``standardwebhooks`` library
against its endpoint's secret. It says ``listening`` once it listens, then one line a request:
``ok N WEBHOOK_ID WALL`` (``time.time()`` at its receipt) or ``bad N``. A process of its own:
at the shape's fan-out the signature checks run hundreds of times a second, and in the soak's
own process they shared the event loop that times the sends, and every send's latency carried
them.
"""

import asyncio
import sys
import time

from aiohttp import web
from standardwebhooks import Webhook

__all__ = ["app", "main"]


def app(secrets: dict[int, str]) -> web.Application:
    verifiers = {n: Webhook(secret) for n, secret in secrets.items()}

    async def hook(request: web.Request) -> web.Response:
        body = await request.read()
        n = int(request.match_info["n"])
        try:
            verifiers[n].verify(body, dict(request.headers))
        except Exception:
            print(f"bad {n}", flush=True)
            return web.Response(status=400)
        print(f"ok {n} {request.headers['webhook-id']} {time.time():.6f}", flush=True)
        return web.Response(text="ok")

    made = web.Application()
    made.router.add_post(r"/hook/{n:\d+}", hook)
    return made


async def _serve(port: int, secrets: dict[int, str]) -> None:
    runner = web.AppRunner(app(secrets), access_log=None)
    await runner.setup()
    # Beside the soak's hold on the port (``PortHold``), as every server the soak starts.
    await web.TCPSite(runner, "127.0.0.1", port, reuse_address=True).start()
    print("listening", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    secrets: dict[int, str] = {}
    for line in sys.stdin:
        if not line.strip():
            break
        n, secret = line.split()
        secrets[int(n)] = secret
    asyncio.run(_serve(int(sys.argv[1]), secrets))


if __name__ == "__main__":
    main()
