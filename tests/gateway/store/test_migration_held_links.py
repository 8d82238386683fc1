"""Migration 0074: an approval link names what it decides by its kind and id, a column for
neither kind; each link of a send or a payment made before names the same row after; and back,
where a link of another kind, which the columns of each kind cannot name, is dropped."""

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from gateway.values.clock import utcnow
from tests.fixtures.migrations import database_at, downgrade_to, insert_old_merchant, up_down_up

TABLES = {"approval_links"}


def _look(conn: Connection) -> tuple[set[str], list[tuple[str, str]]]:
    """The links' columns, and what each link names (kind, id), by token."""
    columns = {c["name"] for c in inspect(conn).get_columns("approval_links")}
    if "held_kind" in columns:
        found = "SELECT held_kind, held_id FROM approval_links ORDER BY token_hash"
    else:
        found = (
            "SELECT CASE WHEN topup_id IS NULL THEN 'payment' ELSE 'topup' END, "
            "COALESCE(topup_id, payment_id) FROM approval_links ORDER BY token_hash"
        )
    return columns, [(kind, held) for kind, held in conn.execute(text(found))]


async def test_0074_names_what_a_link_decides_by_kind_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0073", database_url, tmp_path, request) as db:
        async with db.transaction() as conn:
            await insert_old_merchant(conn, with_topup=True)
            now = utcnow()
            await conn.execute(
                text("INSERT INTO users (id, email, created_at) VALUES ('usr_old', 'o@x.io', :n)"),
                {"n": now},
            )
            for token in ("a", "b"):
                await conn.execute(
                    text(
                        "INSERT INTO approval_links (token_hash, topup_id, user_id, door, "
                        "expires_at, created_at) VALUES (:h, 'txn_old', 'usr_old', 'mail', :n, :n)"
                    ),
                    {"h": token * 64, "n": now},
                )
        before, after = await up_down_up(db, "0073", "0074", TABLES, _look)
        # A link of a kind the columns cannot name goes with the way back.
        async with db.transaction() as conn:
            await conn.execute(
                text(
                    "INSERT INTO approval_links (token_hash, held_kind, held_id, user_id, door, "
                    "expires_at, created_at) VALUES (:h, 'payout', 'po_1', 'usr_old', 'mail', "
                    ":n, :n)"
                ),
                {"h": "c" * 64, "n": utcnow()},
            )
        await downgrade_to(db, "0073")
        async with db.read() as conn:
            back = await conn.run_sync(_look)
    assert {"topup_id", "payment_id"} <= before[0] and "held_kind" not in before[0]
    assert {"held_kind", "held_id"} <= after[0] and "topup_id" not in after[0]
    assert before[1] == after[1] == [("topup", "txn_old"), ("topup", "txn_old")]
    assert back[1] == [("topup", "txn_old"), ("topup", "txn_old")]
