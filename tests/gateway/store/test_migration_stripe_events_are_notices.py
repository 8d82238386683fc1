"""Migration 0039: Stripe's recorded events move into payment_notices under the channel
stripe, as every channel's notifications are kept, and stripe_events goes; and back."""

from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from gateway.values.clock import utcnow
from tests.fixtures.migrations import database_at, up_down_up

TABLES = {"stripe_events", "payment_notices"}


def _recorded(conn: Connection) -> set[tuple[str, ...]]:
    """Every recorded event, wherever it is kept: (channel, id, kind, order, outcome)."""
    tables = set(conn.dialect.get_table_names(conn))
    found: set[tuple[str, ...]] = set()
    if "stripe_events" in tables:
        rows = conn.execute(text("SELECT id, type, order_id, outcome FROM stripe_events"))
        found |= {("stripe", *r) for r in rows}
    rows = conn.execute(
        text("SELECT channel, event_id, kind, order_id, outcome FROM payment_notices")
    )
    found |= {tuple(r) for r in rows}
    return found


def _where(conn: Connection) -> tuple[set[tuple[str, ...]], bool]:
    return _recorded(conn), "stripe_events" in set(conn.dialect.get_table_names(conn))


async def test_0039_moves_stripe_events_into_the_notices_and_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async with database_at("0038", database_url, tmp_path, request) as db:
        async with db.transaction() as conn:
            await conn.execute(
                text(
                    "INSERT INTO stripe_events (id, type, order_id, outcome, received_at) "
                    "VALUES ('evt_1', 'checkout.session.completed', 'ord_1', 'credited', :now), "
                    "('evt_2', 'invoice.paid', NULL, 'ignored', :now)"
                ),
                {"now": utcnow()},
            )
            await conn.execute(
                text(
                    "INSERT INTO payment_notices "
                    "(channel, event_id, kind, order_id, outcome, received_at) "
                    "VALUES ('creem', 'evt_1', 'checkout.completed', 'ord_2', 'credited', :now)"
                ),
                {"now": utcnow()},
            )
        before, after = await up_down_up(db, "0038", "0039", TABLES, _where)
    assert before[1] and not after[1]
    assert (
        before[0]
        == after[0]
        == {
            ("stripe", "evt_1", "checkout.session.completed", "ord_1", "credited"),
            ("stripe", "evt_2", "invoice.paid", None, "ignored"),
            ("creem", "evt_1", "checkout.completed", "ord_2", "credited"),
        }
    )
