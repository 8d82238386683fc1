"""Migration 0008 gives each idempotency record to the API key that made its top-up."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import bindparam, text

from gateway import idempotency
from gateway.store.migrate import alembic_config, upgrade
from gateway.store.types import UTCDateTime
from gateway.values.code_names import Code
from gateway.values.outcome import Outcome
from keys import Sealer
from tests.fixtures.core import TEST_SECRET
from tests.fixtures.migrations import database_at, differences, url_of

_AT = datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)  # when key_a's send wrote top-up and claim
_SHARED = datetime(2026, 1, 1, 0, 0, 0, 2, tzinfo=UTC)  # two keys' top-ups at one instant
_REFUSED = datetime(2026, 1, 1, 0, 0, 0, 3, tzinfo=UTC)  # a refusal: no top-up
_SENT = Outcome(
    Code.TOPUP_DELIVERED,
    {"voucher_code": "ATU-AAAA-BBBB-CCCC", "platform": "claude"},
    transaction_id="txn_1",
    status="delivered",
)

_ROWS = [
    "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at) VALUES "
    "('mer_1', 'one', 0, '2026-01-01 00:00:00')",
    "INSERT INTO api_keys (id, merchant_id, env, key_hash, display_prefix, created_at) VALUES "
    "('key_a', 'mer_1', 'live', 'hash_a', 'ak_live_a', '2026-01-01 00:00:00'), "
    "('key_b', 'mer_1', 'live', 'hash_b', 'ak_live_b', '2026-01-01 00:00:00'), "
    "('key_c', 'mer_1', 'live', 'hash_c', 'ak_live_c', '2026-01-01 00:00:00')",
]
_TOPUP = text(
    "INSERT INTO topups (id, env, merchant_id, api_key_id, platform, amount_cents, "
    "recipient_email, status, created_at, updated_at) VALUES "
    "(:id, 'live', 'mer_1', :key_id, 'claude', 300, 'a@example.com', 'pending', :at, :at)"
).bindparams(bindparam("at", type_=UTCDateTime()))
_RECORD = text(
    "INSERT INTO idempotency_keys (merchant_id, env, key, request_hash, status_code, "
    "response_body, created_at) VALUES ('mer_1', 'live', :key, :hash, 200, :body, :at)"
).bindparams(bindparam("at", type_=UTCDateTime()))


async def test_0008_keeps_each_record_for_the_key_that_made_its_topup(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    sealer = Sealer(TEST_SECRET.encode())
    # Sealed as the code before 0008 sealed it: to the merchant, env and key alone.
    sealed = sealer.seal(_SENT.stored(), context="idempotency:mer_1:live:order-1")
    async with database_at("0007", database_url, tmp_path, request) as db:
        url = url_of(db)
        async with db.transaction() as conn:
            for statement in _ROWS:
                await conn.execute(text(statement))
            for txn_id, key_id, at in [
                ("txn_1", "key_a", _AT), ("txn_2", "key_b", _SHARED), ("txn_3", "key_c", _SHARED)
            ]:  # fmt: skip
                await conn.execute(_TOPUP, {"id": txn_id, "key_id": key_id, "at": at})
            for key, at, body in [
                ("order-1", _AT, sealed), ("order-2", _SHARED, "{}"), ("order-3", _REFUSED, "{}")
            ]:  # fmt: skip
                await conn.execute(
                    _RECORD, {"key": key, "hash": f"h-{key}", "body": body, "at": at}
                )

        await asyncio.to_thread(upgrade, url, "0008")

        async with db.read() as conn:
            kept = {
                (row.api_key_id, row.key)
                for row in await conn.execute(text("SELECT api_key_id, key FROM idempotency_keys"))
            }
            later = {"idempotency_keys.filled"}  # migration 0080's
            assert await conn.run_sync(differences, {"idempotency_keys"}, later) == []
        assert kept == {("key_a", "order-1"), ("key_b", "order-2"), ("key_c", "order-2")}

        # The kept reply is still the key's, and opens; no other key finds it. Today's code reads
        # the column migration 0080 adds, there for this check alone.
        async with db.transaction() as conn:
            await conn.execute(text("ALTER TABLE idempotency_keys ADD COLUMN filled TEXT"))
        async with db.engine.connect() as conn:
            now = datetime(2026, 1, 1, 0, 1, tzinfo=UTC)

            async def claim(api_key_id: str) -> Outcome | None:
                return await idempotency.claim(
                    conn, sealer, merchant_id="mer_1", api_key_id=api_key_id, env="live",
                    key="order-1", request_hash="h-order-1", now=now, ttl_seconds=3600,
                )  # fmt: skip

            replay = await claim("key_a")
            assert replay is not None
            assert replay.body().render() == _SENT.body().render()
            assert await claim("key_b") is None
            await conn.rollback()
        async with db.transaction() as conn:
            await conn.execute(text("ALTER TABLE idempotency_keys DROP COLUMN filled"))

        await asyncio.to_thread(command.downgrade, alembic_config(url), "0007")
        async with db.read() as conn:
            left = (await conn.execute(text("SELECT count(*) FROM idempotency_keys"))).scalar()
        assert left == 0
        await asyncio.to_thread(upgrade, url, "0008")
