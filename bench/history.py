"""Cost flat as history grows: the send, a delivery and every merchant list on PostgreSQL, on a
store holding a year of history beside the same on an empty store, in the same run.

History is written by the server itself (``INSERT … SELECT generate_series``), never row by row
through the gateway: ``AITOPUP_BENCH_HISTORY_ROWS`` rows in all (default 300,000; docs give the
figures at 1M and 10M) of top-ups, ledger entries, recipient wallets, events, deliveries,
attempts and idempotency keys, spread as a busy merchant's year would be: one heavy merchant
holds three in five top-ups, ``LIGHT_MERCHANTS`` light ones share the rest. Every figure is
measured on the heavy merchant: the send (closed loop), a burst of deliveries through one worker,
and each list's first page and a deep page (by cursor where the list offers one, by offset where
it pages by offset), 90% of the way into the merchant's history. The ledger offers both: its
deep page is read by cursor, as a client walking it does, and by offset for information.

On PostgreSQL the history is in partitions of a week (``store.partitions``), a year of them on
both stores (``weekly_partitions``), as a year after the migration that made them.

Both stores run at once (a gateway and a worker each, in one PostgreSQL cluster) and each figure
is taken on one, then the other, ``ROUNDS`` times; the median of each is reported, so a slow
spell of the machine hits both alike. The lists' GETs take turns one request at a time, after
an ``ANALYZE`` of both stores (``_lists``, ``_analyzed``); ``AITOPUP_BENCH_HISTORY_LISTS``
names the lists a run measures (``measured_lists``: every one when unset). PostgreSQL:
``AITOPUP_BENCH_POSTGRES_URL`` when set, else a throwaway cluster of the benchmark's own (a load
of millions of rows is no guest's business on a shared server).
"""

# The history's SQL is built from integers and ids this module makes, never from input.
# ruff: noqa: S608

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import aiohttp
import asyncpg

from gateway.ledger import service as ledger
from gateway.merchants import service as merchants
from gateway.outbox import emit, wake_for
from gateway.store import partitions
from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.migrate import upgrade
from gateway.values.clock import utcnow
from keys import Sealer
from tests.fixtures.postgres import ThrowawayPostgres, candidate_binaries

from .deliveries import _Receiver
from .endpoints import add_endpoint
from .load import Result, closed_loop, collector_off
from .report import Row, failures, print_rows
from .servers import (
    BENCH_PEPPER,
    BENCH_SECRET,
    admin_dsn,
    free_port,
    postgres_database,
    process,
    redis_server,
    uvicorn_server,
)
from .stopping import unwind_on_sigterm
from .topup import _bodies, _gateway_env

__all__ = [
    "Heavy",
    "History",
    "load_history",
    "main",
    "measure",
    "measured_lists",
    "run",
    "weekly_partitions",
]

ROWS = int(os.environ.get("AITOPUP_BENCH_HISTORY_ROWS", "300000"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
ROUNDS = int(os.environ.get("AITOPUP_BENCH_HISTORY_ROUNDS", "3"))
LIGHT_MERCHANTS = 2_000
SEND_CLIENTS = 8
BURST = 300  # deliveries a round
# GETs a round a list figure is the median of (the stores taking turns); the test's tiny run
# takes a few, its figures only checked to be there.
GETS = int(os.environ.get("AITOPUP_BENCH_HISTORY_GETS", "30"))
DEPTH = 0.9  # how far into the merchant's history a deep page starts
API = "/api/public/v1"
# A top-up leaves two ledger entries, an event, a delivery, 1.1 attempts and half an
# idempotency key behind it: 6.6 rows.
ROWS_PER_TOPUP = 6.6
# Staging: only its deliveries may reach a receiver on loopback (``worker.http``).
ENV: Final = "staging"


@dataclass(frozen=True, slots=True)
class Heavy:
    """The heavy merchant: the ids its history is written under, and its raw key."""

    merchant_id: str
    key_id: str
    key: str
    wallet_id: str
    endpoint_id: str


@dataclass(frozen=True, slots=True)
class History:
    """What was loaded, by table, and how long the load took."""

    rows: dict[str, int]
    seconds: float

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _b36(expr: str, width: int) -> str:
    """SQL: ``expr`` (a bigint) in ``width`` lower-case base-36 digits, as ``new_id`` writes."""
    alphabet = "'0123456789abcdefghijklmnopqrstuvwxyz'"
    digits = [
        f"substr({alphabet}, (({expr}) / {36**k} % 36)::int + 1, 1)"
        for k in range(width - 1, -1, -1)
    ]
    return "(" + " || ".join(digits) + ")"


async def _heavy(database_url: str, hook_url: str) -> Heavy:
    """The heavy merchant, made through the gateway's own services as a real one is."""
    db = open_database(database_url, pool_size=2)
    try:
        now = utcnow()
        async with db.transaction() as conn:
            merchant = await merchants.create_merchant(
                conn,
                db,
                name="heavy",
                low_balance_threshold_cents=0,
                staging_initial_balance_cents=10**12,
                now=now,
            )
            # No voucher e-mail: there is no mail server here, and its retries are not measured.
            await conn.exec_driver_sql(
                "UPDATE merchants SET notify_recipients = false WHERE id = $1", (merchant.id,)
            )
            key_id, key = await merchants.create_key(
                conn, merchant.id, ENV, BENCH_PEPPER.encode(), now
            )
            wallet_id, _ = await ledger.ensure_wallet(conn, ENV, merchant.id, now)
            await add_endpoint(
                conn,
                Sealer(BENCH_SECRET.encode()),
                env=ENV,
                merchant_id=merchant.id,
                url=hook_url,
                now=now,
            )
            endpoint_id = (
                await conn.exec_driver_sql(
                    "SELECT id FROM webhook_endpoints WHERE merchant_id = $1",
                    (merchant.id,),
                )
            ).scalar_one()
        return Heavy(merchant.id, key_id, key.raw, wallet_id, str(endpoint_id))
    finally:
        await db.dispose()


def _statements(heavy: Heavy, topups: int, light: int) -> list[tuple[str, str]]:
    """(table, SQL) in load order. ``n`` numbers the top-ups oldest first; three in five are
    the heavy merchant's, the rest go round the light ones."""
    start = utcnow() - timedelta(days=365)
    start_ms = int(start.timestamp() * 1000)
    step_ms = max(1, 365 * 86_400_000 // max(topups, 1))
    recipients = max(10, topups // 30)
    mine = "n % 5 < 3"
    lt = f"lpad((n % {light})::text, 22, '0')"
    merchant = f"CASE WHEN {mine} THEN '{heavy.merchant_id}' ELSE 'mer_lt' || {lt} END"
    key = f"CASE WHEN {mine} THEN '{heavy.key_id}' ELSE 'key_lt' || {lt} END"
    wallet = f"CASE WHEN {mine} THEN '{heavy.wallet_id}' ELSE 'wal_lt' || {lt} END"
    endpoint = f"CASE WHEN {mine} THEN '{heavy.endpoint_id}' ELSE 'we_lt' || {lt} END"
    ms = f"({start_ms}::bigint + n::bigint * {step_ms})"
    # time, a zero sequence and the number: sorts as ``new_id`` does, oldest first.
    suffix = f"({_b36(ms, 9)} || '000000000' || {_b36('n', 6)})"
    at = f"to_timestamp({ms} / 1000.0)"
    email = f"'r' || ((n / 7) % {recipients}) || '@example.com'"
    series = f"generate_series(1, {topups}) AS n"
    base = f"""
        SELECT n, {merchant} AS merchant_id, {key} AS key_id, {wallet} AS wallet_id,
               {endpoint} AS endpoint_id, {suffix} AS suffix, {at} AS at, {email} AS email,
               100 + n % 900 AS cents
        FROM {series}
    """
    payload = (
        "json_build_object('id', 'evt_' || suffix, 'type', 'topup.delivered', "
        "'created_at', at, 'env', 'staging', 'data', json_build_object("
        "'transaction_id', 'txn_' || suffix, 'amount_cents', cents, "
        "'recipient_email', email, 'platform', 'claude'))::text"
    )
    light_ids = f"lpad(k::text, 22, '0') FROM generate_series(0, {light - 1}) AS k"
    then = f"to_timestamp({start_ms} / 1000.0)"
    return [
        (
            "merchants",
            "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at) "
            f"SELECT 'mer_lt' || l, 'light', 0, {then} FROM (SELECT {light_ids}) AS s(l)",
        ),
        (
            "api_keys",
            "INSERT INTO api_keys (id, merchant_id, env, key_hash, display_prefix, created_at) "
            "SELECT 'key_lt' || l, 'mer_lt' || l, 'staging', md5(l) || md5('k' || l),"
            f" 'sk_test_lt', {then} FROM (SELECT {light_ids}) AS s(l)",
        ),
        (
            "wallets",
            "INSERT INTO wallets (id, env, owner, merchant_id, balance_cents, created_at,"
            " updated_at) "
            f"SELECT 'wal_lt' || l, 'staging', 'm:mer_lt' || l, 'mer_lt' || l, 10000000, {then},"
            f" {then} FROM (SELECT {light_ids}) AS s(l)",
        ),
        (
            "webhook_endpoints",
            "INSERT INTO webhook_endpoints (id, env, merchant_id, url, event_types, enabled,"
            " secret_sealed, created_at, updated_at) "
            f"SELECT 'we_lt' || l, 'staging', 'mer_lt' || l, 'https://hooks.example.com/' || l, '',"
            f" true, 'sealed', {then}, {then} FROM (SELECT {light_ids}) AS s(l)",
        ),
        (
            "recipient wallets",
            "INSERT INTO wallets (id, env, owner, merchant_id, platform, email, balance_cents,"
            " created_at, updated_at) "
            "SELECT 'wal_' || left(md5(merchant_id || email), 24), 'staging',"
            " 'r:' || merchant_id || ':claude:' || email, merchant_id, 'claude', email,"
            f" sum(cents), min(at), max(at) FROM ({base}) AS h GROUP BY merchant_id, email",
        ),
        (
            "topups",
            "INSERT INTO topups (id, env, merchant_id, api_key_id, platform, amount_cents,"
            " recipient_email, recipient_wallet_id, status, created_at, updated_at) "
            "SELECT 'txn_' || suffix, 'staging', merchant_id, key_id, 'claude', cents, email,"
            " 'wal_' || left(md5(merchant_id || email), 24), 'delivered', at, at"
            f" FROM ({base}) AS h",
        ),
        (
            "ledger_entries",
            # Numbered in each wallet after the entries it already has, as the gateway numbers.
            "INSERT INTO ledger_entries (wallet_id, env, amount_cents, kind, reference,"
            " created_at, number) "
            "SELECT w, 'staging', CASE WHEN side = 1 THEN -cents ELSE cents END,"
            " CASE WHEN side = 1 THEN 'topup_debit' ELSE 'topup_credit' END,"
            " 'txn_' || suffix, at, COALESCE((SELECT entry_count FROM wallets WHERE id = w), 0)"
            " + row_number() OVER (PARTITION BY w ORDER BY n, side)"
            " FROM (SELECT h.*, side, CASE WHEN side = 1 THEN wallet_id"
            " ELSE 'wal_' || left(md5(merchant_id || email), 24) END AS w"
            f" FROM ({base}) AS h CROSS JOIN (VALUES (1), (2)) AS s(side)) AS e ORDER BY n, side",
        ),
        (
            "events",
            "INSERT INTO events (id, env, merchant_id, type, payload, created_at) "
            f"SELECT 'evt_' || suffix, 'staging', merchant_id, 'topup.delivered', {payload}, at"
            f" FROM ({base}) AS h",
        ),
        (
            "webhook_deliveries",
            "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, env, merchant_id,"
            " event_type, status, attempts, trigger, run_start, generation, last_attempt_at,"
            " created_at, updated_at) "
            "SELECT 'dlv_' || suffix || endpoint_id, 'evt_' || suffix, endpoint_id, 'staging',"
            " merchant_id, 'topup.delivered',"
            " CASE WHEN n % 50 = 0 THEN 'failed' ELSE 'succeeded' END,"
            " CASE WHEN n % 10 = 0 THEN 2 ELSE 1 END, 'auto', 0, 1, at, at, at"
            f" FROM ({base}) AS h",
        ),
        (
            "webhook_attempts",
            "INSERT INTO webhook_attempts (delivery_id, attempt, trigger, started_at,"
            " duration_ms, url, request_headers, request_body, response_status,"
            " response_headers, response_body) "
            "SELECT 'dlv_' || suffix || endpoint_id, a, 'auto', at, 20 + n % 80,"
            " 'https://hooks.example.com/aitopup',"
            " json_build_object('content-type', 'application/json', 'webhook-id',"
            " 'evt_' || suffix, 'webhook-signature', 'v1,' || md5(suffix)),"
            f" {payload}, CASE WHEN a = 1 AND n % 10 = 0 THEN 503 ELSE 200 END,"
            " json_build_object('content-type', 'text/plain'), 'ok'"
            f" FROM ({base}) AS h CROSS JOIN generate_series(1, 2) AS a"
            " WHERE a = 1 OR n % 10 = 0 ORDER BY n, a",
        ),
        (
            "idempotency_keys",
            "INSERT INTO idempotency_keys (merchant_id, api_key_id, env, key, request_hash,"
            " status_code, response_body, created_at) "
            "SELECT merchant_id, key_id, 'staging', 'idem-' || n, md5(suffix) || md5(email), 201,"
            " json_build_object('success', true, 'transaction_id', 'txn_' || suffix)::text, at"
            f" FROM ({base}) AS h WHERE n % 2 = 0",
        ),
    ]


_ENTRY_COUNTS = (
    "UPDATE wallets SET entry_count = c.n"
    " FROM (SELECT wallet_id, count(*) AS n FROM ledger_entries GROUP BY wallet_id) AS c"
    " WHERE wallets.id = c.wallet_id"
)


async def weekly_partitions(database_url: str) -> None:
    """On PostgreSQL, the year's history in partitions of a week each, as after a year of the
    worker's ``make_partitions`` (the migration puts every row older than its next week in one):
    the migration's first partition, still empty, dropped, and a week's made for each week of
    the year up to the current one."""
    db = open_database(database_url, command_timeout=600)
    try:
        now = utcnow()
        await partitions.drop_past(db, partitions.week_of(now) + partitions.SPAN)
        week = partitions.week_of(now - timedelta(days=365))
        while week <= now:
            await partitions.make_ahead(db, week, weeks=0)
            week += partitions.SPAN
    finally:
        await db.dispose()


async def load_history(database_url: str, heavy: Heavy, rows: int) -> History:
    """About ``rows`` rows of history, written by the server; then ``VACUUM ANALYZE``, as
    autovacuum would have run by the time a year had passed (index-only scans need its
    visibility map)."""
    topups = max(20, int(rows / ROWS_PER_TOPUP))
    light = min(LIGHT_MERCHANTS, max(2, topups // 50))
    began = time.perf_counter()
    counts: dict[str, int] = {}
    conn = await asyncpg.connect(admin_dsn(database_url))
    try:
        for table, sql in _statements(heavy, topups, light):
            status = await conn.execute(sql)
            counts[table] = int(status.rsplit(" ", 1)[1])
        # Each wallet's count of its entries, as the gateway keeps it with the balance.
        await conn.execute(_ENTRY_COUNTS)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return History(counts, time.perf_counter() - began)


# --- measuring ---


@dataclass(frozen=True, slots=True)
class Target:
    """A store under measurement: its gateway, its merchant and where its deep pages start."""

    name: str
    base: str
    database_url: str
    redis_url: str
    heavy: Heavy
    deep: dict[str, str]  # list name -> the query string of its deep page


async def _deep_pages(database_url: str, heavy: Heavy) -> dict[str, str]:
    """Where a client paging ``DEPTH`` of the way through each list would be: the cursor it
    would hold (the last id of the page before) or the offset it would ask for."""
    conn = await asyncpg.connect(admin_dsn(database_url))
    try:

        async def at(sql: str, count_sql: str) -> Any:
            total = int(await conn.fetchval(count_sql, heavy.merchant_id) or 0)
            return await conn.fetchval(sql, heavy.merchant_id, int(total * DEPTH))

        txn = await at(
            "SELECT id FROM topups WHERE merchant_id = $1 AND env = 'staging'"
            " ORDER BY id DESC OFFSET $2 LIMIT 1",
            "SELECT count(*) FROM topups WHERE merchant_id = $1",
        )
        dlv = await at(
            "SELECT id FROM webhook_deliveries WHERE merchant_id = $1 AND env = 'staging'"
            " ORDER BY id DESC OFFSET $2 LIMIT 1",
            "SELECT count(*) FROM webhook_deliveries WHERE merchant_id = $1",
        )
        email = await at(
            "SELECT DISTINCT recipient_email FROM topups WHERE merchant_id = $1"
            " ORDER BY recipient_email OFFSET $2 LIMIT 1",
            "SELECT count(DISTINCT recipient_email) FROM topups WHERE merchant_id = $1",
        )
        entries = int(
            await conn.fetchval(
                "SELECT count(*) FROM ledger_entries WHERE wallet_id = $1", heavy.wallet_id
            )
        )
        # The last entry of the page before the deep one; none on an empty store, whose
        # baseline is then its first page, as for the other cursor lists.
        depth = int(entries * DEPTH)
        entry = None
        if depth > 0:
            entry = await conn.fetchval(
                "SELECT id FROM ledger_entries WHERE wallet_id = $1 ORDER BY id DESC"
                " OFFSET $2 LIMIT 1",
                heavy.wallet_id,
                depth - 1,
            )
    finally:
        await conn.close()
    # The ledger pages both ways: by cursor (a client walking it), and by offset (information).
    deep: dict[str, str] = {f"transactions{BY_OFFSET}": f"offset={depth}"}
    if entry is not None:
        deep["transactions"] = f"cursor={entry}"
    if txn is not None:
        deep["topups"] = f"cursor={txn}"
    if dlv is not None:
        deep["deliveries"] = f"cursor={dlv}"
    if email is not None:
        deep["recipients"] = f"cursor={email}"
    return deep


# A deep page read by offset where the list also offers a cursor: reported, not held to a target.
BY_OFFSET = " by offset"

# Every list a merchant's key reads, first page: name, path.
LISTS: list[tuple[str, str]] = [
    ("topups", "/topup"),
    ("deliveries", "/webhooks/deliveries"),
    ("transactions", "/billing/transactions"),
    ("recipients", "/recipients"),
    ("history", "/billing/history"),
    ("orders", "/orders"),
    ("emails", "/emails"),
    ("endpoints", "/webhooks/endpoints"),
    ("keys", "/keys"),
]
# The lists a run measures: names from ``LISTS``, comma-separated; every one when unset. A run
# after one list's figures at a size whose load takes minutes need not read the others.
ONLY = os.environ.get("AITOPUP_BENCH_HISTORY_LISTS", "")


def measured_lists(only: str = ONLY) -> list[tuple[str, str]]:
    """``LISTS``, or those ``only`` names (an unknown name is an error, not an empty run)."""
    if not only.strip():
        return LISTS
    names = [name.strip() for name in only.split(",") if name.strip()]
    known = dict(LISTS)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"no such list: {', '.join(unknown)} (lists: {', '.join(known)})")
    return [(name, known[name]) for name in names]


async def _get_ms(session: aiohttp.ClientSession, url: str, headers: dict[str, str]) -> float:
    began = time.perf_counter()
    async with session.get(url, headers=headers) as reply:
        body = await reply.read()
        if reply.status != 200:
            raise RuntimeError(f"GET {url}: {reply.status} {body[:300]!r}")
    return (time.perf_counter() - began) * 1000


def _pages(target: Target, name: str, path: str) -> list[tuple[str, str]]:
    """(figure, URL) of each page of one list that ``target`` reads."""
    pages = [(f"{name}: first page", f"{target.base}{API}{path}")]
    for way in ("", BY_OFFSET):
        if f"{name}{way}" in target.deep:
            url = f"{target.base}{API}{path}?{target.deep[name + way]}"
            pages.append((f"{name}: deep page{way}", url))
    return pages


async def _lists(targets: list[Target]) -> dict[str, float]:
    """Each page of each list on every store, ``{"<store>|<figure>": ms}``: the median of its
    GETs (``GETS`` a round at least), after two rounds to warm the path.

    The stores take turns, one GET each, so a slow spell of the machine hits them alike (in
    blocks of one store's GETs, a block landing on a slow second moved a figure by a tenth).
    Each GET goes to another gateway process than the one before: a process answering twice
    in a row is the faster for it, which would favour the store with more pages to read. A
    store with fewer pages (the empty one has no deep page) reads its first page again in
    the turns the other spends on its deep pages."""
    out: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        for name, path in measured_lists():
            pages = {target.name: _pages(target, name, path) for target in targets}
            most = max(len(found) for found in pages.values())
            turns: list[tuple[str, str, dict[str, str]]] = []
            for i in range(most):
                for target in targets:
                    found = pages[target.name]
                    figure, url = found[i % len(found)]
                    headers = {"Authorization": f"Bearer {target.heavy.key}"}
                    turns.append((f"{target.name}|{figure}", url, headers))
            times: dict[str, list[float]] = {key: [] for key, _, _ in turns}
            for n in range(GETS + 2):
                shift = n % most * len(targets)
                for key, url, headers in turns[shift:] + turns[:shift]:
                    ms = await _get_ms(session, url, headers)
                    if n >= 2:
                        times[key].append(ms)
            out.update({key: statistics.median(values) for key, values in times.items()})
    return out


async def _drained(db: Database) -> None:
    """Until the worker has delivered what the sends before left for it."""
    while True:
        async with db.read() as conn:
            pending = (
                await conn.exec_driver_sql(
                    "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
                )
            ).scalar_one()
        if not pending:
            return
        await asyncio.sleep(0.1)


async def _burst(target: Target, receiver: _Receiver) -> float:
    """Deliveries a second of ``BURST`` events of the heavy merchant through its worker."""
    from arq import create_pool
    from arq.connections import RedisSettings

    db = open_database(target.database_url, pool_size=2)
    redis = await create_pool(RedisSettings.from_dsn(target.redis_url))
    try:
        await _drained(db)
        await receiver.reset()
        async with db.transaction() as conn:
            ids: list[str] = []
            for n in range(BURST):
                ids += await emit(
                    conn,
                    env=ENV,
                    merchant_id=target.heavy.merchant_id,
                    type_="webhook.test",
                    data={"n": n},
                    now=utcnow(),
                )
        began = time.perf_counter()
        await wake_for(redis, ids)
        await receiver.wait_for(len(ids), within=120)
        return len(ids) / (time.perf_counter() - began)
    finally:
        await redis.aclose()
        await db.dispose()


async def _send(target: Target) -> Result:
    headers = {"Authorization": f"Bearer {target.heavy.key}", "Content-Type": "application/json"}
    url = f"{target.base}{API}/topup/send"
    return await closed_loop(
        url, _bodies(), headers, clients=SEND_CLIENTS, seconds=SECONDS, warmup=0.5
    )


async def _analyzed(targets: list[Target]) -> None:
    """Fresh planner statistics on every store, as autovacuum keeps them on a live one: the
    empty store grows by thousands of top-ups a round, and planned on no statistics at all
    its recipients page took three times the loaded store's."""
    for target in targets:
        conn = await asyncpg.connect(admin_dsn(target.database_url))
        try:
            await conn.execute("ANALYZE")
        finally:
            await conn.close()


async def measure(
    targets: list[Target], receiver_port: int
) -> tuple[dict[str, list[float]], list[Result]]:
    """Each figure, each store in turn (the lists' GETs taking turns), ``ROUNDS`` times:
    ``{"<store>|<figure>": [values]}``, and the sends' loops (their failures a figure)."""
    figures: dict[str, list[float]] = {}
    sends: list[Result] = []
    receiver = _Receiver(receiver_port)
    try:
        for _ in range(ROUNDS):
            for target in targets:
                sent = await _send(target)
                sends.append(sent)
                figures.setdefault(f"{target.name}|send req/s", []).append(sent.throughput)
                with collector_off():
                    burst = await _burst(target, receiver)
                figures.setdefault(
                    f"{target.name}|burst of {BURST} events: deliveries/s", []
                ).append(burst)
            await _analyzed(targets)
            for key, ms in (await _lists(targets)).items():
                figures.setdefault(f"{key} ms", []).append(ms)
    finally:
        await receiver.http.aclose()
    return figures, sends


@contextmanager
def _cluster() -> Iterator[str]:
    """The PostgreSQL server to use: ``AITOPUP_BENCH_POSTGRES_URL``, or a throwaway one."""
    given = os.environ.get("AITOPUP_BENCH_POSTGRES_URL")
    if given:
        yield given
        return
    binaries = candidate_binaries()
    if not binaries:
        raise RuntimeError("the history benchmark needs PostgreSQL (initdb/postgres or pgserver)")
    server = ThrowawayPostgres(binaries[0].folder)
    try:
        yield server.start()
    finally:
        server.stop()


def _rows(figures: dict[str, list[float]], history: History) -> list[Row]:
    label = f"history {history.total / 1e6:.2f}M rows"
    rows: list[Row] = []
    for key in figures:
        store, figure = key.split("|", 1)
        if store != "history":
            continue
        value = statistics.median(figures[key])
        # An empty store has no deep page: there, any page is its first.
        baseline = "empty store"
        if f"empty|{figure}" not in figures:
            deep, unit = figure.rsplit(" ", 1)
            figure_there = deep.split(": ")[0] + f": first page {unit}"
            baseline = "empty, 1st page"
        else:
            figure_there = figure
        empty = statistics.median(figures[f"empty|{figure_there}"])
        per_second = figure.endswith("/s")
        # DESIGN.md: every figure at least 0.90 of the empty store's; for a time, at most
        # 1 / 0.90 of it.
        target = ">= 0.90" if per_second else "<= 1.11"
        if BY_OFFSET in figure:
            target = "information"
        rows.append(
            Row(f"{label}: {figure}", value, figure.rsplit(" ", 1)[1], baseline, empty, target)
        )
    return rows


def run(rows: int = ROWS) -> list[Row]:
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aitopup-hist-")))
        receiver_port = free_port()
        stack.enter_context(
            process(
                [sys.executable, "-m", "bench.receiver", str(receiver_port)],
                os.environ,
                folder / "receiver.log",
                port=receiver_port,
            )
        )
        hook_url = f"http://127.0.0.1:{receiver_port}/hook"
        base = stack.enter_context(_cluster())
        targets: list[Target] = []
        history = History({}, 0.0)
        for name in ("empty", "history"):
            url = stack.enter_context(postgres_database(base))
            # A Redis each: a worker takes every job of its queue, and a job of the other
            # store's would name a delivery its own store does not hold.
            (folder / name).mkdir()
            redis_url = stack.enter_context(redis_server(folder / name))
            upgrade(url)
            asyncio.run(weekly_partitions(url))
            heavy = asyncio.run(_heavy(url, hook_url))
            if name == "history":
                history = asyncio.run(load_history(url, heavy, rows))
                print(
                    f"history: {history.total:,} rows in {history.seconds:.0f} s "
                    + json.dumps(history.rows),
                    flush=True,
                )
            env = _gateway_env(url, redis_url, {"AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS": "true"})
            gateway = stack.enter_context(
                uvicorn_server("gateway.app:app_from_env", env, factory=True)
            )
            stack.enter_context(
                process(
                    [sys.executable, "-m", "worker"],
                    {**os.environ, **env},
                    folder / f"worker-{name}.log",
                )
            )
            deep = asyncio.run(_deep_pages(url, heavy))
            targets.append(Target(name, gateway, url, redis_url, heavy, deep))
        figures, sends = asyncio.run(measure(targets, receiver_port))
        return [*_rows(figures, history), failures("history: sends", sends)]


def main() -> None:
    print_rows(run())


if __name__ == "__main__":
    unwind_on_sigterm()
    main()
