"""The admin token: refused attempts are audited and lock the client out, the right token too;
with Redis down no token is checked; a short token never starts. Both stores (the audit log)."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis
from sqlalchemy import func, select
from starlette.types import ASGIApp

from gateway.lockout import IN_FLIGHT_SECONDS
from gateway.redis_server import RedisServer
from gateway.store.engine import Database
from gateway.store.models import AuditRecord, table_of
from gateway.values.settings import Settings
from tests.fixtures.billing import ADMIN_TOKEN
from tests.fixtures.core import (
    TEST_PEPPER,
    TEST_SECRET,
    live_server,
    local_client,
    make_settings,
    running_app,
    wait_until,
)
from tests.fixtures.limiters import client_at, limits, unique_address
from tests.fixtures.policies import gateway_processes

__all__ = ["limits"]  # the fixture, used by name

ADMIN = "http://gateway.test/api/admin/v1"
LIMIT = 3
_A = table_of(AuditRecord)


def _admin_settings(database_url: str, redis_url: str) -> Settings:
    return make_settings(
        database_url, redis_url, admin_token=ADMIN_TOKEN, admin_failures_per_client=LIMIT
    )


@pytest.fixture
async def admin_app(database_url: str, redis_url: str, limits: Redis) -> AsyncIterator[ASGIApp]:
    async with running_app(_admin_settings(database_url, redis_url)) as app:
        yield app


async def _refusals_from(db: Database, address: str) -> list[Any]:
    async with db.read() as conn:
        rows = (
            await conn.execute(select(_A).where(_A.c.actor == "unauthenticated").order_by(_A.c.id))
        ).all()
    return [r for r in rows if (r.details or {}).get("client") == address]


async def test_refused_tokens_are_audited_then_the_client_is_locked_out(
    admin_app: ASGIApp, db: Database
) -> None:
    address = unique_address()
    right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    tries = [
        {},
        {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}z"},
        {"Authorization": "Bearer ak_live_" + "a" * 32},
    ]
    async with client_at(admin_app, address, ADMIN) as http:
        assert (await http.get("/merchants", headers=right)).status_code == 200
        for headers in tries:
            assert (await http.get("/merchants", headers=headers)).status_code == 401
        locked = await http.get("/merchants", headers=right)
        again = await http.get("/merchants", headers={"Authorization": "Bearer nope"})
    assert (locked.status_code, locked.json()["code"]) == (429, 2202)
    assert 0 < int(locked.headers["Retry-After"]) <= 300
    assert (again.status_code, again.json()["code"]) == (429, 2202)

    rows = await _refusals_from(db, address)
    assert [(r.code, r.status_code) for r in rows] == [(2102, 401), (2103, 401), (2104, 401)]
    assert {(r.action, r.method, r.path) for r in rows} == {
        ("merchants.list", "GET", "/api/admin/v1/merchants")
    }
    for row in rows:  # what was sent is never kept: no token, no key, no near miss
        kept = repr(tuple(row))
        assert ADMIN_TOKEN[:-1] not in kept and "ak_live_" not in kept
        assert row.details == {"client": address}

    async with client_at(admin_app, unique_address(), ADMIN) as other:
        assert (await other.get("/merchants", headers=right)).status_code == 200


async def test_two_authorization_headers_are_refused_and_audited(
    admin_app: ASGIApp, db: Database
) -> None:
    address = unique_address()
    twice = [("Authorization", f"Bearer {ADMIN_TOKEN}")] * 2
    async with client_at(admin_app, address, ADMIN) as http:
        refused = await http.get("/merchants", headers=twice)
    assert (refused.status_code, refused.json()["code"]) == (400, 2203)
    assert [r.code for r in await _refusals_from(db, address)] == [2203]


async def test_concurrent_attempts_are_counted_exactly_and_audited_within_the_limit(
    database_url: str, redis_url: str, limits: Redis, db: Database
) -> None:
    async with db.read() as conn:
        before = (await conn.execute(select(func.max(_A.c.id)))).scalar() or 0
    settings = _admin_settings(database_url, redis_url)
    async with (
        live_server(settings) as root,
        local_client(base_url=f"{root}/api/admin/v1", timeout=30) as http,
    ):
        replies = await asyncio.gather(
            *(
                http.get("/merchants", headers={"Authorization": f"Bearer wrong-{i}"})
                for i in range(30)
            )
        )
        codes = [r.json()["code"] for r in replies]
        assert codes.count(2103) == LIMIT
        assert codes.count(2202) == 30 - LIMIT
        right = await http.get("/merchants", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert (right.status_code, right.json()["code"]) == (429, 2202)
    async with db.read() as conn:
        written = (await conn.execute(select(_A).where(_A.c.id > before))).all()
    # One row per counted failure; the lockout's refusals write nothing.
    assert [(r.actor, r.code) for r in written] == [("unauthenticated", 2103)] * LIMIT


@pytest.mark.parametrize("token", ["x" * 31, "short", " " * 5 + "y" * 20])
def test_an_admin_token_under_32_characters_never_starts(token: str) -> None:
    with pytest.raises(ValidationError, match="AITOPUP_ADMIN_TOKEN must be at least 32"):
        Settings(_env_file=None, key_pepper=TEST_PEPPER, secret_key=TEST_SECRET, admin_token=token)


def test_an_empty_admin_token_leaves_the_admin_api_off_and_32_characters_start() -> None:
    base: dict[str, Any] = {"key_pepper": TEST_PEPPER, "secret_key": TEST_SECRET}
    assert Settings(_env_file=None, **base, admin_token="").admin_token is None
    started = Settings(_env_file=None, **base, admin_token="t" * 32).admin_token
    assert started is not None and started.get_secret_value() == "t" * 32


async def test_with_redis_down_the_admin_api_refuses_before_any_token_check(
    database_url: str, db: Database, private_redis: RedisServer
) -> None:
    """The lockout guards the operator's token, chosen by a person: when Redis cannot count,
    no token is checked (503, 9002), the right one neither, and no wrong one is audited."""
    address = unique_address()
    right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    guesses = (ADMIN_TOKEN[:-1] + "z", "nope", ADMIN_TOKEN, "x" * 40, "y" * 40)
    async with (
        running_app(_admin_settings(database_url, private_redis.url)) as app,
        client_at(app, address, ADMIN) as http,
    ):
        assert (await http.get("/merchants", headers=right)).status_code == 200
        private_redis.stop()
        replies = [
            await http.get("/merchants", headers={"Authorization": f"Bearer {guess}"})
            for guess in guesses
        ]
    assert [(r.status_code, r.json()["code"]) for r in replies] == [(503, 9002)] * 5
    assert {r.headers["Retry-After"] for r in replies} == {"5"}
    assert await _refusals_from(db, address) == []


def _answered_or_busy(replies: list[Any]) -> None:
    """The right token at once, many times: each answered, or (its wait for the checks ahead
    over) asked to retry in a second, or (a Redis too slow to count within its deadline on a
    machine busy with the rest of the run) refused unchecked; never the lockout."""
    for reply in replies:
        if reply.status_code != 200:
            busy = (reply.status_code, reply.headers.get("Retry-After"))
            assert busy in ((429, "1"), (503, "5")), reply.text
    assert any(r.status_code == 200 for r in replies)


def _not_locked_out(reply: Any) -> None:
    """The right token once more after a burst: answered, or (on a machine busy with the rest of
    the run) asked to retry as a reply of the burst may be (``_answered_or_busy``); never the
    lockout. Asked again at once, not polled: each try counts an attempt of its own."""
    busy = (reply.status_code, reply.headers.get("Retry-After")) in ((429, "1"), (503, "5"))
    assert reply.status_code == 200 or busy, reply.text


async def _fail(http: Any, token: str) -> None:
    """``LIMIT`` wrong tokens, each answered 401. One answered busy (the burst's attempts still
    holding their place: a Redis too slow to take them back on a machine busy with the rest of
    the run holds them up to ``IN_FLIGHT_SECONDS``) was not checked, so it counts nothing and
    is asked again, as its ``Retry-After`` says, until the deadline."""
    failed = 0

    async def one_more() -> bool:
        nonlocal failed
        wrong = await http.get("/merchants", headers={"Authorization": f"Bearer {token}"})
        if wrong.status_code == 401:
            failed += 1
        else:
            _not_locked_out(wrong)
        return failed == LIMIT

    await wait_until(one_more, within=IN_FLIGHT_SECONDS + 15, interval=0.5)


async def test_the_right_token_sent_many_times_at_once_never_locks_the_client_out(
    admin_app: ASGIApp,
) -> None:
    """Each attempt is counted before its check, so that a burst is checked no further than
    the limit; the right token's attempts are given back, and the ones past the room wait for
    them: ten times the limit at once, none locked out (a machine too busy to finish the checks
    ahead within the wait is asked to retry in a second), and the client is not locked out."""
    address = unique_address()
    right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with client_at(admin_app, address, ADMIN) as http:
        replies = await asyncio.gather(
            *(http.get("/merchants", headers=right) for _ in range(10 * LIMIT))
        )
        _answered_or_busy(replies)
        _not_locked_out(await http.get("/merchants", headers=right))
        # Failures still lock it out, and the right token with them.
        await _fail(http, "nope")
        locked = await http.get("/merchants", headers=right)
    assert (locked.status_code, locked.json()["code"]) == (429, 2202)


async def test_the_admin_lockout_is_shared_by_every_gateway_process(
    database_url: str, redis_url: str, limits: Redis, db: Database, tmp_path: Path
) -> None:
    """Two gateway processes: the right token many times at once through both locks nobody
    out; the failures counted by one lock the client out of the other."""
    if db.is_sqlite:
        pytest.skip("several gateway processes share PostgreSQL, not an embedded file")
    settings = _admin_settings(database_url, redis_url)
    right = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with gateway_processes(settings, tmp_path, 2) as publics:
        roots = [root.replace("/api/public/v1", "/api/admin/v1") for root in publics]
        clients = [local_client(base_url=root, timeout=30) for root in roots]
        try:
            replies = await asyncio.gather(
                *(clients[i % 2].get("/merchants", headers=right) for i in range(24))
            )
            _answered_or_busy(replies)
            _not_locked_out(await clients[1].get("/merchants", headers=right))
            await _fail(clients[0], "x")
            locked = await clients[1].get("/merchants", headers=right)
            assert (locked.status_code, locked.json()["code"]) == (429, 2202)
        finally:
            for client in clients:
                await client.aclose()
