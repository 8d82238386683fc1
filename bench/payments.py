"""An agent's payment to a seller (``POST /payments``) beside a send, on SQLite and on PostgreSQL,
against one gateway process.

The payment is a real payer's: a staging key with the ``payments:send`` scope, a deep staging
wallet and a webhook endpoint subscribed (each payment writes its ``payment.authorized``
delivery, as each send writes its own), paying a staging MPP challenge of the same gateway,
as a seller merchant's 402 carries it (``protocols.mpp.challenges``, made here under the
gateway's secret and realm, each with its own id). The staging wallet pays such a challenge with
a sandbox token minted in process (``protocols.mpp.payer``): no network, so the figure is the
gateway's own work: the challenge read, the policy judged, the debit and the payment row, the
credential made and sealed, its answer recorded; two transactions where a send has one.

The loop pays far past what one merchant may pay a minute (``AITOPUP_SELLER_PAYMENTS_PER_MINUTE``,
120 by default: ``merchant_limits.SELLER_PAYMENTS``), so its gateway runs under a limit set for
it, ``BENCH_LIMIT``, and the default limit is a figure of its own beside the rate the gateway
paid at: what a merchant's agents may pay a minute, against what the gateway could.

The baseline is the real merchant's send of ``bench.topup`` on the same gateway, the two closed
loops at ``CLIENTS`` clients taken in turn ``ROUNDS`` times, both driven by the same Python
client (``bench.load``: wrk's script writes a send's body, not a payment's), the pair whose
ratio is the median kept; and the gateway process's CPU time a request over each loop.
``bench.instructions`` counts a payment's instructions beside a send's
(``bench.payment_loop``).
"""

import asyncio
import json
import os
import tempfile
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import update

from gateway.ledger import grants
from gateway.ledger import service as ledger
from gateway.merchants import service as merchants
from gateway.protocols.mpp import challenges
from gateway.store.db import open_database
from gateway.store.migrate import upgrade
from gateway.store.models import ApiKeyRow, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer

from .endpoints import add_endpoint
from .load import Result, closed_loop, closed_loop_of
from .report import Row, failures, run_alone
from .servers import (
    BENCH_PEPPER,
    BENCH_SECRET,
    STORES,
    each_store,
    redis_server,
    uvicorn_server,
)
from .topup import (
    CLIENTS,
    ROUNDS,
    SECONDS,
    _bodies,
    _cpu_ms_a_request,
    _gateway_env,
    _prepare,
)

__all__ = [
    "AMOUNT",
    "BENCH_LIMIT",
    "PAYING_ENV",
    "Paying",
    "challenge_bodies",
    "challenge_body",
    "measure",
    "prepare",
    "run",
]

AMOUNT = 100  # cents, as the send's
# The gateway's realm named outright (a developer's .env may set another), and challenges that
# outlast the slowest run (a count under valgrind takes minutes).
PUBLIC_BASE_URL = "http://127.0.0.1"
# Payments a minute the bench's payer may make: far past what any run pays, so the loop measures
# the gateway, not the limit (which counts each payment all the same).
# AITOPUP_BENCH_PAYMENT_LIMIT sets another: a run under the default's 120 shows its refusals.
BENCH_LIMIT = int(os.environ.get("AITOPUP_BENCH_PAYMENT_LIMIT", str(10**9)))
PAYING_ENV = {
    "AITOPUP_PUBLIC_BASE_URL": PUBLIC_BASE_URL,
    "AITOPUP_MPP_CHALLENGE_TTL_SECONDS": "3600",
    "AITOPUP_SELLER_PAYMENTS_PER_MINUTE": str(BENCH_LIMIT),
}
# Payments each loop measures at least, past its window if need be: more than the default limit
# lets a merchant pay in a minute, so a run (the tiniest too) whose gateway were held to it shows
# the limit's refusals among its failures.
PAST_THE_LIMIT = int(Settings.model_fields["seller_payments_per_minute"].default) + 1
_KEYS = table_of(ApiKeyRow)


@dataclass(frozen=True, slots=True)
class Paying:
    """The payer's raw staging key, and the seller merchant whose challenges it pays."""

    key: str
    seller_id: str


async def prepare(database_url: str) -> Paying:
    """A seller merchant, and a payer whose staging key may only pay sellers, its staging
    wallet deep enough for any run, with a webhook endpoint (never called: no worker runs)."""
    db = open_database(database_url)
    try:
        now = utcnow()
        async with db.transaction() as conn:
            made = []
            for name in ("bench-seller", "bench-payer"):
                made.append(
                    await merchants.create_merchant(
                        conn,
                        db,
                        name=name,
                        low_balance_threshold_cents=0,
                        staging_initial_balance_cents=0,
                        now=now,
                    )
                )
            seller, payer = made
            key_id, key = await merchants.create_key(
                conn, payer.id, "staging", BENCH_PEPPER.encode(), now
            )
            policy = {"scopes": ["payments:send"]}
            await conn.execute(update(_KEYS).where(_KEYS.c.id == key_id).values(policy=policy))
            wallet_id, _ = await ledger.ensure_wallet(conn, "staging", payer.id, now)
            await ledger.credit(conn, wallet_id, 10**12, now, grants.PAID)
            entry = ledger.Entry(wallet_id, "staging", 10**12, "adjustment")
            await ledger.append(conn, [entry], now)
            await add_endpoint(
                conn,
                Sealer(BENCH_SECRET.encode()),
                env="staging",
                merchant_id=payer.id,
                url="https://hooks.example.com/aitopup",
                now=now,
            )
        return Paying(key.raw, seller.id)
    finally:
        await db.dispose()


def challenge_bodies(settings: Settings, seller_id: str, count: int) -> list[bytes]:
    """``count`` bodies of ``POST /payments``, each paying a challenge of its own that the
    gateway of ``settings`` issued to ``seller_id`` in staging for ``AMOUNT``."""
    now = utcnow()
    return [challenge_body(settings, seller_id, now) for _ in range(count)]


def challenge_body(settings: Settings, seller_id: str, now: datetime) -> bytes:
    """The body of ``POST /payments`` paying a new challenge, issued at ``now``: a challenge is
    paid once (a second payment of it is refused ``4649``), so every request needs its own."""
    url = f"{PUBLIC_BASE_URL}/api/public/v1/topup/send"
    made = challenges.challenge(
        settings, merchant_id=seller_id, env="staging", amount_cents=AMOUNT, now=now
    )
    text = made.to_www_authenticate(made.realm)
    return json.dumps({"url": url, "challenge": text}).encode()


def _settings() -> Settings:
    """The gateway's settings as ``challenge_bodies`` needs them: its secret and realm."""
    return Settings(
        _env_file=None,
        key_pepper=BENCH_PEPPER,
        secret_key=BENCH_SECRET,
        public_base_url=PUBLIC_BASE_URL,
        mpp_challenge_ttl_seconds=3600,
    )


@dataclass(frozen=True, slots=True)
class Payments:
    """The payment's closed loop and the send's, taken in turn, with the gateway process's CPU
    time a request over each (milliseconds, from ``/proc``)."""

    paid: Result
    sent: Result
    pay_cpu_ms: float
    send_cpu_ms: float
    # Every round's loops of each, not only the median's: their failures a figure.
    every_paid: tuple[Result, ...] = ()
    every_sent: tuple[Result, ...] = ()


def _pay(url: str, seller_id: str, key: str) -> Result:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    nonce = os.urandom(6).hex()
    settings, now = _settings(), utcnow()

    def make(n: int) -> tuple[bytes, dict[str, str]]:
        # A challenge of its own, made as the request goes: a loop's length is its window's.
        body = challenge_body(settings, seller_id, now)
        return body, {**headers, "Idempotency-Key": f"{nonce}-{n}"}

    return asyncio.run(
        closed_loop_of(
            url,
            make,
            lambda status, _: status == 201,
            clients=CLIENTS,
            seconds=SECONDS,
            at_least=PAST_THE_LIMIT,
        )
    )


def measure(database_url: str, redis_url: str) -> Payments:
    """A payment's closed loop and the real merchant's send's at ``CLIENTS`` clients, in turn,
    ``ROUNDS`` times: the pair whose ratio is the median."""
    upgrade(database_url)
    send_key = asyncio.run(_prepare(database_url, endpoint=True))
    paying = asyncio.run(prepare(database_url))
    send_headers = {"Authorization": f"Bearer {send_key}", "Content-Type": "application/json"}
    env = _gateway_env(database_url, redis_url, PAYING_ENV)
    with uvicorn_server("gateway.app:app_from_env", env, factory=True) as base:
        send_url = f"{base}/api/public/v1/topup/send"
        pay_url = f"{base}/api/public/v1/payments"
        rounds = []
        for _ in range(ROUNDS):
            sent, send_cpu = _cpu_ms_a_request(
                base.pid,
                lambda: asyncio.run(
                    closed_loop(
                        send_url,
                        _bodies(),
                        send_headers,
                        clients=CLIENTS,
                        seconds=SECONDS,
                        keyed=True,
                    )
                ),
            )
            paid, pay_cpu = _cpu_ms_a_request(
                base.pid, lambda: _pay(pay_url, paying.seller_id, paying.key)
            )
            rounds.append(Payments(paid, sent, pay_cpu, send_cpu))
    median = sorted(rounds, key=lambda taken: taken.paid.throughput / taken.sent.throughput)[
        ROUNDS // 2
    ]
    every_paid = tuple(taken.paid for taken in rounds)
    every_sent = tuple(taken.sent for taken in rounds)
    return replace(median, every_paid=every_paid, every_sent=every_sent)


def _rows(store: str, taken: Payments) -> list[Row]:
    return [
        Row(
            f"payment {store}: payments/s at {CLIENTS} clients",
            taken.paid.throughput,
            "req/s",
            "sends/s",
            taken.sent.throughput,
            "- (reference)",
        ),
        Row(
            f"payment {store}: gateway CPU ms a payment",
            taken.pay_cpu_ms,
            "ms",
            "CPU ms a send",
            taken.send_cpu_ms,
            "- (beside the ratio above)",
        ),
        Row(
            f"payment {store}: a merchant's payments a minute",
            _settings().seller_payments_per_minute,  # the environment's, else the default
            "/min",
            "gateway's payments/s x 60",
            taken.paid.throughput * 60,
            "- (AITOPUP_SELLER_PAYMENTS_PER_MINUTE)",
        ),
        failures(f"payment {store}: payments", taken.every_paid),
        failures(f"payment {store}: sends beside", taken.every_sent),
    ]


def run() -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as redis_url:
        for store, url in each_store(Path(tmp), "payments"):
            if store in STORES:  # AITOPUP_BENCH_STORES, as the send's
                rows += _rows(store, measure(url, redis_url))
    return rows


if __name__ == "__main__":
    run_alone(run)
