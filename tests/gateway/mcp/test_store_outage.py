"""A store that does not answer in time gets one code on every door: REST's send and MCP's
``send_topup`` (over streamable HTTP) both answer 9003, the store timed out; neither answers
9001 nor writes anything. Both stores: the wallets held by another transaction past this
side's bound (PostgreSQL's statement timeout, SQLite's wait for its write lock)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text

from gateway.store import sqlite as store_sqlite
from gateway.store.engine import Database
from tests.fixtures.core import live_server, local_client, make_settings
from tests.fixtures.mcp import SEND, counts, envelope_of, mcp_http, send_args
from tests.fixtures.merchants import MakeMerchant

BOUND_SECONDS = 1.0


@asynccontextmanager
async def _wallets_held(db: Database) -> AsyncIterator[None]:
    """The wallets written by no one else while the block runs: a transaction of the test's
    own holds them (PostgreSQL: the table locked against writes; SQLite: the write lock)."""
    async with db.transaction() as conn:
        if db.is_sqlite:
            await conn.execute(text("UPDATE wallets SET balance_cents = balance_cents WHERE 0"))
        else:
            await conn.execute(text("LOCK TABLE wallets IN EXCLUSIVE MODE"))
        yield


@pytest.mark.both_stores
async def test_a_store_timeout_is_9003_on_rest_and_mcp(
    database_url: str,
    redis_url: str,
    db: Database,
    make_merchant: MakeMerchant,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store_sqlite, "LOCK_WAIT_SECONDS", BOUND_SECONDS)
    settings = make_settings(
        database_url, redis_url, database_command_timeout_seconds=BOUND_SECONDS
    )
    merchant = await make_merchant()
    before = await counts(db, merchant.merchant_id)
    async with (
        live_server(settings) as root,
        local_client(base_url=f"{root}/api/public/v1", timeout=30) as http,
        mcp_http(root, merchant.key) as session,
        _wallets_held(db),
    ):
        rest = await http.post(
            "/topup/send",
            json=SEND,
            headers={**merchant.headers, "Idempotency-Key": "outage-rest"},
        )
        tool = await envelope_of(session, "send_topup", send_args("outage-mcp"))
    assert (rest.status_code, rest.json()["code"]) == (503, 9003), rest.text
    assert rest.headers["Retry-After"] == "1"
    assert tool.is_error and tool.code == 9003, tool.envelope
    assert tool.envelope["message"] == rest.json()["message"]
    assert await counts(db, merchant.merchant_id) == before
