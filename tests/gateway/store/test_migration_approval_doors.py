"""Migration 0061: each approval link names its door; a link made before it, which cannot be
told apart, is kept for the stricter door (``telegram``); and back."""

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from gateway.values.clock import utcnow
from tests.fixtures.migrations import database_at, insert_old_merchant, up_down_up

TABLES = {"approval_links"}


def _doors(conn: Connection) -> tuple[bool, list[str]]:
    """Whether the column is there, and the doors of the links."""
    columns = {c["name"] for c in inspect(conn).get_columns("approval_links")}
    if "door" not in columns:
        return False, []
    return True, list(conn.execute(text("SELECT door FROM approval_links")).scalars())


async def test_0058_gives_each_link_a_door_and_an_old_one_telegrams(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0056", database_url, tmp_path, request) as db:
        async with db.transaction() as conn:
            await insert_old_merchant(conn, with_topup=True)
            now = utcnow()
            await conn.execute(
                text("INSERT INTO users (id, email, created_at) VALUES ('usr_old', 'o@x.io', :n)"),
                {"n": now},
            )
            await conn.execute(
                text(
                    "INSERT INTO approval_links (token_hash, topup_id, user_id, expires_at, "
                    "created_at) VALUES (:h, 'txn_old', 'usr_old', :n, :n)"
                ),
                {"h": "h" * 64, "n": now},
            )
        before, after = await up_down_up(db, "0057", "0058", TABLES, _doors)
    assert before == (False, [])
    assert after == (True, ["telegram"])
