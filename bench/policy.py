"""A send on a key with a full policy beside the same send on a key with none, on SQLite and on
PostgreSQL, in turn, ``ROUNDS`` times (``AITOPUP_BENCH_POLICY_ROUNDS``, 5) against one gateway
process.

The full policy sets every check a send goes through: scopes, an expiry, a per-send cap, allowed
platforms and recipients, an approval line (never reached), a rate limit (never reached: it
still costs its Redis round trip), a soft limit, four calendar limits and a per-recipient
limit (so five spend rows counted in the send's write). Limits are far above what a run spends,
so every send is delivered and both keys do the same work but the policy's. The figure is the
pair whose ratio is the median.
"""

import asyncio
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlalchemy import update

from gateway.merchants import service as merchants
from gateway.store.db import open_database
from gateway.store.migrate import upgrade
from gateway.store.models import ApiKeyRow, table_of
from gateway.values.clock import utcnow

from .load import Result, closed_loop
from .report import Row, failures, run_alone
from .servers import (
    BENCH_PEPPER,
    each_store,
    redis_server,
    uvicorn_server,
)
from .topup import CLIENTS, SECONDS, _bodies, _gateway_env, _prepare

__all__ = ["FULL_POLICY", "run"]

ROUNDS = int(os.environ.get("AITOPUP_BENCH_POLICY_ROUNDS", "5"))
_HIGH = 10**12
FULL_POLICY: dict[str, Any] = {
    "scopes": ["topup:send", "topup:read"],
    "max_per_send_cents": 100_000,
    "limits": [
        {"amount_cents": _HIGH, "interval": interval}
        for interval in ("daily", "weekly", "monthly", "all_time")
    ],
    "per_recipient_limit": {"amount_cents": _HIGH, "interval": "daily"},
    "allowed_platforms": ["claude", "chatgpt", "gemini"],
    "allowed_recipients": ["@example.com"],
    "approval_above_cents": 100_000,
    "expires_at": "2099-01-01T00:00:00Z",
    "rate_limit_per_minute": 100_000,
    "soft_limit_percent": 99,
}


async def _policy_key(database_url: str) -> tuple[str, str]:
    """(no policy, full policy): two live keys of one merchant with a deep wallet."""
    bare = await _prepare(database_url)
    db = open_database(database_url)
    keys = table_of(ApiKeyRow)
    try:
        async with db.transaction() as conn:
            merchant_id = (await conn.execute(keys.select().where(keys.c.env == "live"))).first()
            assert merchant_id is not None
            key_id, key = await merchants.create_key(
                conn, merchant_id.merchant_id, "live", BENCH_PEPPER.encode(), utcnow()
            )
            await conn.execute(update(keys).where(keys.c.id == key_id).values(policy=FULL_POLICY))
        return bare, key.raw
    finally:
        await db.dispose()


def measure(database_url: str, redis_url: str) -> tuple[Result, Result, list[Result]]:
    """(full policy, no policy, every loop): the pair whose ratio is the median of ``ROUNDS``."""
    upgrade(database_url)
    bare_key, full_key = asyncio.run(_policy_key(database_url))
    env = _gateway_env(database_url, redis_url, {})
    bodies = _bodies()
    pairs: list[tuple[Result, Result]] = []
    with uvicorn_server("gateway.app:app_from_env", env, factory=True) as base:
        url = f"{base}/api/public/v1/topup/send"
        for _ in range(ROUNDS):
            none = asyncio.run(
                closed_loop(url, bodies, _headers(bare_key), clients=CLIENTS, seconds=SECONDS)
            )
            full = asyncio.run(
                closed_loop(url, bodies, _headers(full_key), clients=CLIENTS, seconds=SECONDS)
            )
            pairs.append((full, none))
    full, none = sorted(pairs, key=lambda pair: pair[0].throughput / pair[1].throughput)[
        ROUNDS // 2
    ]
    return full, none, [loop for pair in pairs for loop in pair]


def _headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def _rows(store: str, full: Result, none: Result, loops: list[Result]) -> list[Row]:
    return [
        Row(
            f"send {store}: req/s, key with a full policy",
            full.throughput,
            "req/s",
            "key with no policy",
            none.throughput,
            ">= 0.90",
        ),
        failures(f"send {store}, keys with a full policy and none", loops),
    ]


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as redis_url:
        return [
            row
            for store, url in each_store(Path(tmp), "policy")
            for row in _rows(store, *measure(url, redis_url))
        ]


if __name__ == "__main__":
    run_alone(run)
