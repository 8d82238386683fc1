"""Receipt numbers: one gap-free series per environment, and the billing profile as it was then.

A payment takes the next number of its environment's series in the transaction that pays it:
one conditional write raises the series' row (``receipt_series``) and returns the number, and
the receipt row keeps it beside a copy of the merchant's billing profile. The row is held from
that write to the commit, so concurrent payments of an environment take their numbers in turn;
a payment rolled back rolls its number back with it, so the series never has a gap. The unique
``(env, number)`` of ``receipts`` is the last word if anything else ever wrote there.

The numbering is two steps (``receipt_steps``) of the store's plans (``store.compose``): a
paying plan adds them after the step that pays, and ``issue`` runs them on their own for a
payment made by statements in order (``orders.complete_order``). Whatever else is paid later
(a subscription's period) is numbered by the same steps, in the same series.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, insert, literal_column, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from ...store.compose import Plan, Refs, Step
from ...store.expressions import from_rows, param, upsert
from ...store.models import BillingProfile, Receipt, ReceiptSeries, table_of
from ...store.raw import raw
from ...store.types import UTCDateTime

__all__ = [
    "PREFIXES",
    "PROFILE_COLUMNS",
    "Issued",
    "issue",
    "number_text",
    "receipt_steps",
    "reference_of",
]

_S = table_of(ReceiptSeries)
_R = table_of(Receipt)
_BP = table_of(BillingProfile)

# The series' prefix per environment: a staging receipt can never pass for a live one.
PREFIXES = {"staging": "STG", "live": "LIVE"}
# What a receipt copies of the billing profile, by the same names on both tables.
PROFILE_COLUMNS = (
    "legal_name",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "country",
    "tax_id",
)


# A receipt's reference is what was paid: an order id, or a provider's invoice id.
_MAX_REFERENCE = 64


def reference_of(paid_id: str) -> str:
    """The receipt reference of what ``paid_id`` names: itself, or, past the column's width (a
    provider's id may be up to 255 characters), its digest, which no other id can share."""
    if len(paid_id) <= _MAX_REFERENCE:
        return paid_id
    return "sha256:" + hashlib.sha256(paid_id.encode()).hexdigest()[:56]


def number_text(env: str, number: int) -> str:
    """The number as a receipt shows it: ``LIVE-000042``."""
    return f"{PREFIXES[env]}-{number:06d}"


@dataclass(frozen=True, slots=True)
class Issued:
    number: int
    text: str


After = Callable[[Refs], ColumnElement[bool]]


def receipt_steps(after: After | None = None) -> list[Step]:
    """The next number of the ``env`` series, then the receipt of ``receipt_reference`` for
    ``merchant_id`` with its billing profile now, at ``now``. ``after``: the paying step they
    follow (``lambda r: r.after("credit")``), so nothing is numbered when it writes nothing;
    without it the number step is the plan's first, required."""
    env = param("env", String)
    merchant_id = param("merchant_id", String)

    def take_number(refs: Refs) -> Any:
        # An INSERT … SELECT, so a paying step's "after" can hold it back; the first receipt
        # of an environment makes the row. One conditional write either way.
        stmt = from_rows(
            upsert(_S),
            [{"env": env, "last_number": literal_column("1", Integer)}],
            where=after(refs) if after is not None else true(),
        )
        return stmt.on_conflict_do_update(
            index_elements=[_S.c.env], set_={"last_number": _S.c.last_number + 1}
        ).returning(_S.c.last_number.label("number"))

    def profile(column: str) -> ColumnElement[Any]:
        found = select(_BP.c[column]).where(_BP.c.merchant_id == merchant_id)
        return found.scalar_subquery()

    def write(refs: Refs) -> Any:
        row: dict[str, ColumnElement[Any]] = {
            "reference": param("receipt_reference", String),
            "env": env,
            "number": refs.col("receipt_number", "number"),
            "merchant_id": merchant_id,
            **{column: profile(column) for column in PROFILE_COLUMNS},
            "issued_at": param("now", UTCDateTime()),
        }
        stmt = from_rows(insert(_R), [row], where=refs.after("receipt_number"))
        return stmt.returning(_R.c.number)

    return [
        Step("receipt_number", take_number, required=after is None),
        Step("receipt", write),
    ]


_ISSUE = Plan(receipt_steps(), given=("env", "merchant_id", "receipt_reference", "now"))


async def issue(
    conn: AsyncConnection, *, env: str, merchant_id: str, reference: str, now: datetime
) -> Issued:
    """Number what ``reference`` names (a paid order) in ``env``'s series, in the caller's
    transaction, with the merchant's billing profile as it is now."""
    params = {"env": env, "merchant_id": merchant_id, "receipt_reference": reference, "now": now}
    applied = await _ISSUE.run(await raw(conn), params)
    assert applied is not None  # the number step always writes
    row = applied.one("receipt")
    assert row is not None
    number = int(row["number"])
    return Issued(number, number_text(env, number))
