"""Migration 0064: a held payment's approval window and who decided it, an approval link that
names a held send or a held payment (exactly one), and the indexes of the payments holding
money and of a key's payments to a payee, as the models describe them; a link of a send made
before keeps working; and back."""

from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from gateway.values.clock import utcnow
from tests.fixtures.migrations import database_at, insert_old_merchant, up_down_up

TABLES = {"seller_payments", "approval_links"}


def _look(conn: Connection) -> tuple[set[str], set[str], list[str]]:
    """The columns of both tables, and the links' held sends."""
    found = inspect(conn)
    payments = {c["name"] for c in found.get_columns("seller_payments")}
    links = {c["name"] for c in found.get_columns("approval_links")}
    held = list(conn.execute(text("SELECT topup_id FROM approval_links")).scalars())
    return payments, links, held


async def test_0064_holds_payments_and_links_them_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0063", database_url, tmp_path, request) as db:
        async with db.transaction() as conn:
            await insert_old_merchant(conn, with_topup=True)
            now = utcnow()
            await conn.execute(
                text("INSERT INTO users (id, email, created_at) VALUES ('usr_old', 'o@x.io', :n)"),
                {"n": now},
            )
            await conn.execute(
                text(
                    "INSERT INTO approval_links (token_hash, topup_id, user_id, door, "
                    "expires_at, created_at) VALUES (:h, 'txn_old', 'usr_old', 'mail', :n, :n)"
                ),
                {"h": "h" * 64, "n": now},
            )
        before, after = await up_down_up(db, "0063", "0064", TABLES, _look)
        # A link names exactly one held thing.
        with pytest.raises(IntegrityError):
            async with db.transaction() as conn:
                await conn.execute(
                    text(
                        "INSERT INTO approval_links (token_hash, user_id, door, expires_at, "
                        "created_at) VALUES (:h, 'usr_old', 'mail', :n, :n)"
                    ),
                    {"h": "n" * 64, "n": utcnow()},
                )
    assert {"approval_expires_at", "decided_by"} & before[0] == set()
    assert {"approval_expires_at", "decided_by"} <= after[0]
    assert "payment_id" not in before[1] and "payment_id" in after[1]
    assert before[2] == after[2] == ["txn_old"]
