"""Approvals: held sends approved by another key, beside the held sends themselves, on SQLite and
on PostgreSQL, against one gateway process.

A key whose policy holds every send (``approval_above_cents`` 1) sends at 32 clients for
``SECONDS``: that closed loop is the baseline (a held send is the send's own plan). A second key
with only the ``approvals`` scope then approves every held send it made, at 32 clients: each
approval is a change of the lifecycle (find and lock the row, credit the recipient, the entry,
the key's paid count, the event), so the figure is that change's rate beside the send's.
"""

import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select, update

from gateway.merchants import service as merchants
from gateway.store.db import open_database
from gateway.store.migrate import upgrade
from gateway.store.models import ApiKeyRow, Topup, table_of
from gateway.values.clock import utcnow

from .load import Result, closed_loop, collector_off, seen_in
from .report import Row, failures, run_alone
from .servers import (
    BENCH_PEPPER,
    each_store,
    redis_server,
    uvicorn_server,
)
from .topup import CLIENTS, SECONDS, _bodies, _gateway_env, _prepare

__all__ = ["run"]

HOLD_ALL: dict[str, Any] = {"scopes": ["topup:send", "topup:read"], "approval_above_cents": 1}
APPROVER: dict[str, Any] = {"scopes": ["approvals"]}


async def _keys(database_url: str) -> tuple[str, str]:
    """(sender, approver): two live keys of one merchant with a deep wallet."""
    await _prepare(database_url)
    db = open_database(database_url)
    keys = table_of(ApiKeyRow)
    made: list[str] = []
    try:
        async with db.transaction() as conn:
            first = (await conn.execute(keys.select().where(keys.c.env == "live"))).first()
            assert first is not None
            for policy in (HOLD_ALL, APPROVER):
                key_id, key = await merchants.create_key(
                    conn, first.merchant_id, "live", BENCH_PEPPER.encode(), utcnow()
                )
                await conn.execute(update(keys).where(keys.c.id == key_id).values(policy=policy))
                made.append(key.raw)
        return made[0], made[1]
    finally:
        await db.dispose()


async def _held(database_url: str) -> list[str]:
    db = open_database(database_url)
    topups = table_of(Topup)
    try:
        async with db.read() as conn:
            rows = await conn.execute(
                select(topups.c.id).where(topups.c.status == "pending_approval")
            )
            return [row.id for row in rows]
    finally:
        await db.dispose()


async def _approve_all(base: str, ids: list[str], key: str) -> Result:
    """Every id approved once, by ``CLIENTS`` clients taking the next id in turn."""
    headers = {"Authorization": f"Bearer {key}"}
    pending = iter(ids)
    latencies: list[float] = []
    seen: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            for txn_id in pending:
                started = time.perf_counter()
                url = f"{base}/api/public/v1/topup/{txn_id}/approve"
                async with session.post(url, headers=headers) as reply:
                    body = await reply.read()
                    if reply.status >= 300:
                        seen[seen_in(reply.status, body)] += 1
                latencies.append((time.perf_counter() - started) * 1000)

        with collector_off():
            start = time.perf_counter()
            await asyncio.gather(*(client() for _ in range(CLIENTS)))
            elapsed = time.perf_counter() - start
    return Result(len(latencies), elapsed, latencies, seen.total(), seen=dict(seen))


def measure(database_url: str, redis_url: str) -> tuple[Result, Result]:
    """(approvals, held sends)."""
    upgrade(database_url)
    sender, approver = asyncio.run(_keys(database_url))
    env = _gateway_env(database_url, redis_url, {})
    headers = {"Authorization": f"Bearer {sender}", "Content-Type": "application/json"}
    with uvicorn_server("gateway.app:app_from_env", env, factory=True) as base:
        url = f"{base}/api/public/v1/topup/send"
        held = asyncio.run(closed_loop(url, _bodies(), headers, clients=CLIENTS, seconds=SECONDS))
        ids = asyncio.run(_held(database_url))
        approved = asyncio.run(_approve_all(base, ids, approver))
    return approved, held


def _rows(store: str, approved: Result, held: Result) -> list[Row]:
    return [
        Row(
            f"approve {store}: approvals/s at 32 clients",
            approved.throughput,
            "req/s",
            "held sends",
            held.throughput,
            "- (reference)",
        ),
        failures(f"approve {store}: held sends and approvals", [held, approved]),
    ]


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as redis_url:
        return [
            row
            for store, url in each_store(Path(tmp), "approval")
            for row in _rows(store, *measure(url, redis_url))
        ]


if __name__ == "__main__":
    run_alone(run)
