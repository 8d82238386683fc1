"""Migration 0062: a fulfilment setting gains its keys' allowance (``limit_reset``,
``key_expires_after_days``) and a recipient's key when it expires, each empty for what was
there before (a setting and a key from before keep neither reset nor expiry); and back."""

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from gateway.values.clock import utcnow
from tests.fixtures.migrations import database_at, insert_old_merchant, up_down_up

TABLES = {"fulfilment_settings", "upstream_keys"}


def _allowances(conn: Connection) -> list[tuple[object, ...]]:
    """What the rows of before hold in the new columns (nothing when they are not there)."""
    if "expires_at" not in {c["name"] for c in inspect(conn).get_columns("upstream_keys")}:
        return []
    setting = conn.execute(
        text("SELECT limit_reset, key_expires_after_days FROM fulfilment_settings")
    ).all()
    key = conn.execute(text("SELECT expires_at FROM upstream_keys")).all()
    return [tuple(r) for r in (*setting, *key)]


async def test_0062_adds_the_allowance_empty_for_what_was_there(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0061", database_url, tmp_path, request) as db:
        async with db.transaction() as conn:
            await insert_old_merchant(conn)
            now = {"n": utcnow()}
            await conn.execute(
                text(
                    "INSERT INTO fulfilment_settings (merchant_id, env, platform, provider,"
                    " base_url, created_at, updated_at) VALUES ('mer_old', 'live', 'claude',"
                    " 'openrouter', 'https://openrouter.ai/api/v1', :n, :n)"
                ),
                now,
            )
            await conn.execute(
                text(
                    "INSERT INTO upstream_keys (id, merchant_id, env, provider, recipient_email,"
                    " label, key_hash, limit_cents, created_at, updated_at) VALUES ('upk_old',"
                    " 'mer_old', 'live', 'openrouter', 'a@example.com', 'aitopup upk_old', 'h',"
                    " 100, :n, :n)"
                ),
                now,
            )
        before, after = await up_down_up(db, "0061", "0062", TABLES, _allowances)
    assert before == []
    assert after == [(None, None), (None,)]
