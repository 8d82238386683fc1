"""Receipt numbers: a gap-free series per environment, taken in the transaction that pays, with
the billing profile as it was then; on both stores."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import String, insert, select, update

from gateway.billing import orders, receipts
from gateway.merchants import service as merchants
from gateway.store.compose import Plan, Refs, Step
from gateway.store.engine import Database
from gateway.store.expressions import param
from gateway.store.models import BillingProfile, FundingOrder, Receipt, ReceiptSeries, table_of
from gateway.store.raw import raw
from gateway.store.types import UTCDateTime
from gateway.values.clock import new_id, utcnow
from gateway.values.settings import Settings
from tests.fixtures.billing import insert_orders, order_row
from tests.fixtures.migrations import database_at

_O = table_of(FundingOrder)
_R = table_of(Receipt)
_S = table_of(ReceiptSeries)
_BP = table_of(BillingProfile)


class Boom(Exception):
    pass


@pytest.fixture
async def own_db(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Database]:
    """A database of this test's own at the newest migration: its series start at nothing."""
    async with database_at("head", database_url, tmp_path, request) as db:
        yield db


async def _merchant(db: Database, name: str) -> str:
    async with db.transaction() as conn:
        made = await merchants.create_merchant(
            conn,
            db,
            name=name,
            low_balance_threshold_cents=0,
            staging_initial_balance_cents=0,
            now=utcnow(),
        )
    return made.id


async def _order(db: Database, merchant_id: str, env: str) -> str:
    """A pending order of 500 cents paid through the sandbox (staging) or Stripe (live)."""
    row = order_row(merchant_id, env=env, pack_name="Custom amount")
    if env == "live":
        row["provider_session_id"] = f"cs_test_{row['id']}"
    async with db.transaction() as conn:
        await insert_orders(conn, [row])
    return str(row["id"])


def _paid(order_id: str, env: str) -> orders.Paid:
    if env == "staging":
        return orders.Paid("sandbox", None, 500, "usd")
    return orders.Paid("stripe", f"cs_test_{order_id}", 500, "usd")


async def _pay(db: Database, order_id: str, env: str) -> str:
    async with db.transaction() as conn:
        settled = await orders.complete_order(conn, order_id, _paid(order_id, env), utcnow())
    return settled.result


async def _numbers(db: Database, env: str) -> dict[str, int]:
    async with db.read() as conn:
        rows = await conn.execute(select(_R.c.reference, _R.c.number).where(_R.c.env == env))
        return {r.reference: int(r.number) for r in rows}


async def test_fifty_concurrent_payments_take_one_to_fifty_and_leave_the_other_series_alone(
    own_db: Database,
) -> None:
    merchant_ids = [await _merchant(own_db, f"shop-{i}") for i in range(5)]
    staging = [await _order(own_db, merchant_ids[i % 5], "staging") for i in range(50)]
    live = [await _order(own_db, merchant_ids[i % 5], "live") for i in range(3)]

    results = await asyncio.gather(*(_pay(own_db, order_id, "staging") for order_id in staging))
    assert results == ["credited"] * 50

    numbered = await _numbers(own_db, "staging")
    assert sorted(numbered) == sorted(staging)  # every paid order has a receipt
    assert sorted(numbered.values()) == list(range(1, 51))  # no gap, no repeat
    assert await _numbers(own_db, "live") == {}
    async with own_db.read() as conn:
        series = {r.env: r.last_number for r in await conn.execute(select(_S))}
    assert series == {"staging": 50}

    # The live series is its own, from 1; paying again changes no number.
    for order_id in live:
        assert await _pay(own_db, order_id, "live") == "credited"
    assert sorted((await _numbers(own_db, "live")).values()) == [1, 2, 3]
    assert await _pay(own_db, live[0], "live") == "already_completed"
    assert sorted((await _numbers(own_db, "live")).values()) == [1, 2, 3]
    assert sorted((await _numbers(own_db, "staging")).values()) == list(range(1, 51))


async def test_a_payment_that_fails_in_its_transaction_takes_no_number(own_db: Database) -> None:
    merchant_id = await _merchant(own_db, "shop")
    first, failing, after = [await _order(own_db, merchant_id, "live") for _ in range(3)]
    assert await _pay(own_db, first, "live") == "credited"

    with pytest.raises(Boom):
        async with own_db.transaction() as conn:
            paid = _paid(failing, "live")
            settled = await orders.complete_order(conn, failing, paid, utcnow())
            assert settled.result == "credited"
            raise Boom  # anything later in the same transaction failing

    assert await _pay(own_db, after, "live") == "credited"
    assert await _numbers(own_db, "live") == {first: 1, after: 2}
    async with own_db.read() as conn:
        status = (await conn.execute(select(_O.c.status).where(_O.c.id == failing))).scalar_one()
    assert status == "pending"
    # Paid again later, it takes the next number.
    assert await _pay(own_db, failing, "live") == "credited"
    assert (await _numbers(own_db, "live"))[failing] == 3


async def test_the_receipt_keeps_the_profile_as_it_was_when_paid(own_db: Database) -> None:
    merchant_id = await _merchant(own_db, "shop")
    unprofiled, profiled = [await _order(own_db, merchant_id, "staging") for _ in range(2)]
    assert await _pay(own_db, unprofiled, "staging") == "credited"
    now = utcnow()
    async with own_db.transaction() as conn:
        await conn.execute(
            insert(_BP).values(
                merchant_id=merchant_id,
                legal_name="Acme GmbH",
                address_line1="Hauptstraße 1",
                address_line2=None,
                city="Berlin",
                postal_code="10115",
                country="DE",
                tax_id="DE123456789",
                updated_at=now,
            )
        )
    assert await _pay(own_db, profiled, "staging") == "credited"
    async with own_db.read() as conn:
        rows = {
            r.reference: r
            for r in await conn.execute(select(_R).where(_R.c.merchant_id == merchant_id))
        }
    assert rows[unprofiled].legal_name is None
    assert (rows[profiled].legal_name, rows[profiled].country) == ("Acme GmbH", "DE")
    assert rows[profiled].address_line1 == "Hauptstraße 1"
    assert receipts.number_text("staging", rows[profiled].number) == "STG-000002"


async def test_a_settings_free_issue_numbers_in_the_callers_transaction(
    db: Database, settings: Settings
) -> None:
    """``issue`` on its own (as a later kind of payment calls it): the next number."""
    merchant_id = await _merchant(db, "issuer")
    async with db.read() as conn:
        before = (
            await conn.execute(select(_S.c.last_number).where(_S.c.env == "live"))
        ).scalar_one_or_none() or 0
    async with db.transaction() as conn:
        got = await receipts.issue(
            conn, env="live", merchant_id=merchant_id, reference=new_id("ord"), now=utcnow()
        )
    assert got.number == before + 1
    assert got.text == f"LIVE-{before + 1:06d}"


def _paying_plan() -> Plan:
    """A paying plan as a later kind of payment builds one: its own conditional step first,
    the receipt steps after it."""

    def settle(refs: Refs) -> Any:
        return (
            update(_O)
            .where(_O.c.id == param("receipt_reference", String), _O.c.status == "pending")
            .values(status="completed", completed_at=param("now", UTCDateTime()))
            .returning(_O.c.id)
        )

    return Plan(
        [
            Step("settle", settle, required=True),
            *receipts.receipt_steps(after=lambda r: r.after("settle")),
        ]
    )


async def test_the_receipt_steps_follow_a_paying_step_in_either_rendering(
    own_db: Database,
) -> None:
    plan = _paying_plan()
    merchant_id = await _merchant(own_db, "shop")
    renderings = [False, True] if not own_db.is_sqlite else [False]
    for n, one_statement in enumerate(renderings, start=1):
        order_id = await _order(own_db, merchant_id, "live")
        params = {
            "env": "live",
            "merchant_id": merchant_id,
            "receipt_reference": order_id,
            "now": utcnow(),
        }
        async with own_db.transaction() as conn:
            done = await plan.run(await raw(conn), params, one_statement=one_statement)
        assert done is not None and done.one("receipt") == {"number": n}
        # Paid already: the paying step writes nothing, so no number is taken.
        async with own_db.transaction() as conn:
            again = await plan.run(await raw(conn), params, one_statement=one_statement)
        assert again is None
    assert sorted((await _numbers(own_db, "live")).values()) == list(range(1, len(renderings) + 1))


def test_a_reference_past_the_columns_width_is_its_digest() -> None:
    assert receipts.reference_of("in_1MtHbELkdIwHu7ixl4OzzPMv") == "in_1MtHbELkdIwHu7ixl4OzzPMv"
    long_a, long_b = "in_" + "a" * 200, "in_" + "a" * 199 + "b"
    assert len(receipts.reference_of(long_a)) == 63
    assert receipts.reference_of(long_a) != receipts.reference_of(long_b)
