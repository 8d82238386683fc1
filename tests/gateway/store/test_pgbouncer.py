"""Through a real PgBouncer in transaction mode, of each kind: Debian 12's 1.18, which keeps no
prepared statement, with the statement cache off (``AITOPUP_DATABASE_STATEMENT_CACHE=false``); and
one that keeps them (1.21+, ``make pgbouncer``'s), with the cache on and the store told it is
pooled (``AITOPUP_DATABASE_POOLED=true``): the send, sends racing for one wallet, and workers
leasing and delivering, their planner settings from their role.

Every server connection here serves whichever client comes next: a pool of three per database
and user behind clients that hold many more (``tests/fixtures/pgbouncer.py``)."""

import asyncio
import json
import logging
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from gateway.merchants import service as merchants
from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.migrate import upgrade
from gateway.store.postgres import PostgresDatabase
from gateway.store.raw import Statement
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Env
from tests.fixtures.core import TEST_PEPPER, live_server, local_client, make_settings, wait_until
from tests.fixtures.merchants import (
    MerchantKey,
    merchant_balance,
    set_balance,
    unbalanced_wallets,
)
from tests.fixtures.pgbouncer import (
    INSTALL_HINT,
    KEEPING_HINT,
    Pgbouncer,
    pgbouncer_binary,
    running_pgbouncer,
)
from tests.fixtures.postgres import fresh_database
from tests.fixtures.webhooks import Receiver, make_endpoint, running_receiver
from worker.store import POSTGRES_SETTINGS, role_lacks

pytestmark = [
    pytest.mark.skipif(pgbouncer_binary() is None, reason=INSTALL_HINT),
    # On the PostgreSQL half's server, as its lanes are: one module's connections at a time.
    pytest.mark.xdist_group("postgres-0"),
]


@dataclass(frozen=True)
class Pooled:
    direct: str  # the database itself
    url: str  # the same through PgBouncer, as the server's own user
    worker_url: str  # through PgBouncer, as the workers' role
    bouncer: Pgbouncer
    cache: bool  # the statement cache: on where the pooler keeps prepared statements


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _on(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(False, id="keeping-none"),
        pytest.param(
            True,
            id="keeping-prepared",
            marks=pytest.mark.skipif(pgbouncer_binary(keeping=True) is None, reason=KEEPING_HINT),
        ),
    ],
)
async def pooled(postgres_server: str, request: pytest.FixtureRequest) -> AsyncIterator[Pooled]:
    """A migrated database of its own behind a PgBouncer of its own, keeping prepared statements
    or not (``request.param``), and a workers' role whose sessions start with the worker's
    planner settings. The statement cache is on where the pooler keeps them."""
    cache: bool = request.param
    role = f"aitopup_worker_{uuid.uuid4().hex[:10]}"
    settings = [
        f"ALTER ROLE {role} SET {name} = {value}" for name, value in POSTGRES_SETTINGS.items()
    ]
    await _on(postgres_server, f"CREATE ROLE {role} LOGIN", *settings)
    try:
        async with fresh_database(postgres_server) as direct:
            with running_pgbouncer(
                postgres_server, users=[role], pool_size=3, keeping=cache
            ) as bouncer:
                url = bouncer.url(direct)
                # Migrated through the pooler too, as `aitopup migrate` would be.
                await asyncio.to_thread(upgrade, url, statement_cache=cache)
                await _on(
                    direct,
                    f"GRANT USAGE ON SCHEMA public TO {role}",
                    f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}",
                    f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}",
                )
                yield Pooled(direct, url, bouncer.url(direct, user=role), bouncer, cache)
    finally:
        await _on(postgres_server, f"DROP ROLE IF EXISTS {role}")


def _settings(pooled: Pooled, url: str, redis_url: str, **overrides: Any) -> Settings:
    return make_settings(
        url,
        redis_url,
        database_statement_cache=pooled.cache,
        database_pooled=True,
        allow_private_webhook_urls=True,
        webhook_retry_schedule="0,0.4,0.8",
        **{"webhook_timeout_seconds": 2, **overrides},
    )


@pytest.fixture(scope="module")
async def pooled_db(pooled: Pooled) -> AsyncIterator[Database]:
    database = open_database(pooled.url, pool_size=2, statement_cache=pooled.cache)
    yield database
    await database.dispose()


async def _merchant(db: Database, balance_cents: int, env: Env = "live") -> MerchantKey:
    """A merchant with one key and ``balance_cents``, written through the pooler (Core)."""
    now = utcnow()
    async with db.transaction() as conn:
        merchant = await merchants.create_merchant(
            conn,
            db,
            name=f"pooled-{uuid.uuid4().hex}",
            low_balance_threshold_cents=0,
            staging_initial_balance_cents=0,
            now=now,
        )
        key_id, key = await merchants.create_key(conn, merchant.id, env, TEST_PEPPER.encode(), now)
        await set_balance(conn, db, env, merchant.id, balance_cents)
    return MerchantKey(merchant.id, key_id, key.raw, env)


SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "pooled@example.com"}


async def test_a_send_through_pgbouncer_is_answered_and_listed(
    pooled: Pooled, pooled_db: Database, redis_url: str
) -> None:
    merchant = await _merchant(pooled_db, 1_000)
    async with (
        live_server(_settings(pooled, pooled.url, redis_url)) as root,
        local_client(base_url=f"{root}/api/public/v1", headers=merchant.headers) as http,
    ):
        sent = await http.post("/topup/send", json=SEND, headers={"Idempotency-Key": "k-1"})
        again = await http.post("/topup/send", json=SEND, headers={"Idempotency-Key": "k-1"})
        listed = await http.get("/topup")
    assert sent.json()["code"] == 1001, sent.text
    assert again.json()["transaction_id"] == sent.json()["transaction_id"]
    assert [row["id"] for row in listed.json()["data"]] == [sent.json()["transaction_id"]]
    assert await merchant_balance(pooled_db, merchant) == 900


async def test_sends_racing_through_pgbouncer_never_overspend(
    pooled: Pooled, pooled_db: Database, redis_url: str
) -> None:
    """Forty at once for ten sends' worth, from two gateways whose pools (four connections
    each, and SQLAlchemy's) share three server connections: every statement lands on whichever
    is free, the group commit's batches too."""
    merchant = await _merchant(pooled_db, 1_000)
    limits = httpx.Limits(max_connections=60)
    async with (
        live_server(_settings(pooled, pooled.url, redis_url, database_pool_size=4)) as one,
        live_server(_settings(pooled, pooled.url, redis_url, database_pool_size=4)) as two,
        local_client(limits=limits, timeout=60, headers=merchant.headers) as http,
    ):
        replies = await asyncio.gather(
            *(
                http.post(f"{(one, two)[n % 2]}/api/public/v1/topup/send", json=SEND)
                for n in range(40)
            )
        )
    codes = Counter(reply.json()["code"] for reply in replies)
    assert codes == {1001: 10, 4001: 30}, [r.text for r in replies if r.status_code >= 500][:3]
    assert await merchant_balance(pooled_db, merchant) == 0
    assert await unbalanced_wallets(pooled_db) == []


async def _sends(http: httpx.AsyncClient, count: int) -> list[str]:
    replies = await asyncio.gather(*(http.post("/topup/send", json=SEND) for _ in range(count)))
    assert {reply.json()["code"] for reply in replies} == {1001}, replies[0].text
    return [reply.json()["transaction_id"] for reply in replies]


async def test_two_workers_lease_and_deliver_each_event_once_through_pgbouncer(
    pooled: Pooled, pooled_db: Database, redis_url: str
) -> None:
    """As their own role, whose sessions carry the planner settings the worker no longer sends
    (PgBouncer refuses a startup parameter it does not track): two workers racing for the same
    due deliveries lease each one once."""
    from worker.kinds import KINDS
    from worker.service import Service

    merchant = await _merchant(pooled_db, 10_000, "staging")  # staging may send to loopback
    # A POST that timed out on a loaded machine is sent again, by design: not what this counts.
    worker_settings = _settings(pooled, pooled.worker_url, redis_url, webhook_timeout_seconds=30)
    services = [Service(worker_settings, kinds=KINDS) for _ in range(2)]
    async with (
        running_receiver() as receiver,
        live_server(_settings(pooled, pooled.url, redis_url)) as root,
        local_client(base_url=f"{root}/api/public/v1", headers=merchant.headers) as http,
    ):
        endpoint = await make_endpoint(
            http, merchant, receiver.url, event_types=["topup.delivered"]
        )
        assert endpoint["url"] == receiver.url
        try:
            for service in services:
                await service.start()
            assert await role_lacks(services[0].deps.db) == []
            sent = await _sends(http, 16)
            await _received(receiver, 16)
        finally:
            for service in services:
                await service.stop()
    # Once each: as many requests as distinct webhook-ids.
    assert len(receiver.received) == 16 and len(receiver.ids()) == 16
    payloads = {json.loads(request.body)["data"]["transaction_id"] for request in receiver.received}
    assert payloads == set(sent)


async def _received(receiver: Receiver, count: int) -> None:
    async def arrived() -> bool:
        return len(receiver.received) >= count

    await wait_until(arrived, within=30)


async def test_a_worker_whose_role_lacks_its_settings_says_which_to_set(
    pooled: Pooled, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from worker.kinds import KINDS
    from worker.service import Service

    service = Service(_settings(pooled, pooled.url, redis_url), kinds=KINDS)
    with caplog.at_level(logging.WARNING, logger="aitopup.worker"):
        await service.start()
        await service.stop()
    [said] = [r.getMessage() for r in caplog.records if "planner settings" in r.getMessage()]
    user = make_url(pooled.url).username
    for name in POSTGRES_SETTINGS:
        assert f'ALTER ROLE "{user}" SET {name} = off;' in said


_PID = Statement("SELECT pg_backend_pid() AS pid", ("pid",))


async def _pid(db: Database) -> int:
    [row] = await db.run(lambda tx: tx.fetch(_PID, {}), read_only=True)
    return int(row["pid"])


async def _holding(url: str, pid: int) -> list[asyncpg.Connection]:
    """Clients of the pooler in open transactions until one holds the server ``pid`` (of two):
    the clients that hold it, the other let go."""
    clients: list[asyncpg.Connection] = []
    while True:
        client = await asyncpg.connect(_dsn(url), statement_cache_size=0)
        await client.execute("BEGIN")
        clients.append(client)
        if await client.fetchval("SELECT pg_backend_pid()") == pid:
            for other in clients[:-1]:
                await other.execute("COMMIT")
            return clients


async def test_a_statement_prepared_on_one_server_connection_runs_on_another(
    pooled: Pooled,
) -> None:
    """Why the settings exist: a pooler in transaction mode runs a client's next statement on
    whichever server connection is free. Where it keeps no prepared statement (1.18), the one the
    client prepared on another does not exist there: only the cache off, which names nothing
    that outlives one exchange, works. Where it keeps them, it prepares the statement there
    itself, and the cache on works. And a worker's planner settings sent at startup are refused
    by either."""
    keeping = pooled.cache
    with running_pgbouncer(pooled.direct, pool_size=2, keeping=keeping) as two:
        url = two.url(pooled.direct)
        for cache in (True, False):
            db = open_database(url, pool_size=1, statement_cache=cache)
            clients: list[asyncpg.Connection] = []
            try:
                prepared_on = await _pid(db)
                clients = await _holding(url, prepared_on)  # its next lands on the other
                if cache and not keeping:
                    with pytest.raises(asyncpg.InvalidSQLStatementNameError):
                        await _pid(db)
                else:
                    assert await _pid(db) != prepared_on
            finally:
                for client in clients:
                    await client.close()
                await db.dispose()
        startup = open_database(
            url, pool_size=1, statement_cache=False, postgres_settings=POSTGRES_SETTINGS
        )
        try:
            with pytest.raises(asyncpg.ProtocolViolationError, match="unsupported startup"):
                await _pid(startup)
        finally:
            await startup.dispose()


async def test_the_gateway_and_the_commands_open_their_store_with_the_setting(
    pooled: Pooled, redis_url: str
) -> None:
    """Every process's store takes the setting: the gateway's services and an operator's
    command alike (the worker's: its test above)."""
    from gateway.operator import command_store
    from gateway.services import open_services

    settings = _settings(pooled, pooled.url, redis_url)
    async with open_services(settings) as services, command_store(settings) as command:
        for db in (services.db, command):
            assert isinstance(db, PostgresDatabase) and db.statement_cache is pooled.cache
            assert await _pid(db) > 0
