"""``python -m bench.payment_loop COUNT``: COUNT payments to a seller served in this process,
between two points where ``bench.instructions`` reads callgrind's counters, as
``bench.send_loop`` serves sends.

The gateway (``gateway.app.app_from_env``, its settings from the environment) answers
``POST /payments`` for the payer's staging key in ``BENCH_KEY``, each request with an
``Idempotency-Key`` of its own and a staging MPP challenge of its own, issued by this gateway to
the seller merchant ``BENCH_SELLER`` (``bench.payments.challenge_bodies``, all made before the
counters are zeroed); its wallet pays each with a sandbox token minted in process, so nothing
leaves the process but the store's and Redis's traffic. Requests go through httpx's ASGI
transport, as the send's do, on the send's event loop (``AITOPUP_BENCH_LOOP``).

The protocol on stdin and stdout is ``bench.send_loop``'s: ``ready`` once warmed up, then a line
from the bench; ``done`` once COUNT payments are answered, then a line.
"""

import os
import sys
import uuid

import httpx
from asgi_lifespan import LifespanManager

from bench.payments import challenge_bodies
from bench.send_loop import WARM_UP, _step, run_counted
from gateway.app import app_from_env
from gateway.values.settings import load_settings


async def _pay(client: httpx.AsyncClient, key: str, bodies: list[bytes]) -> None:
    for body in bodies:
        reply = await client.post(
            "/api/public/v1/payments",
            content=body,
            headers={
                "Authorization": f"Bearer {key}",
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
            },
        )
        if reply.status_code != 201:
            raise RuntimeError(f"a payment answered {reply.status_code}: {reply.text}")


async def main(count: int) -> None:
    key, seller = os.environ.get("BENCH_KEY", ""), os.environ.get("BENCH_SELLER", "")
    bodies = challenge_bodies(load_settings(), seller, WARM_UP + count)
    # Under callgrind the start takes minutes (see ``bench.send_loop``).
    async with LifespanManager(app_from_env(), startup_timeout=None) as lifespan:
        transport = httpx.ASGITransport(app=lifespan.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await _pay(client, key, bodies[:WARM_UP])
            _step("ready")
            await _pay(client, key, bodies[WARM_UP:])
            _step("done")


if __name__ == "__main__":
    run_counted(main(int(sys.argv[1])))
