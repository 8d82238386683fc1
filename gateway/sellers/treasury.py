"""The operator's treasury: what pays a seller for a merchant whose wallet pays (``funded_by``
``wallet``; the wallet is debited once, ``sellers``), per environment and rail.

A rail's float (``treasury_floats``, set by the operator: ``PUT /api/admin/v1/treasury``,
``aitopup treasury``) bounds what the treasury has out at once: each payment from a wallet
reserves its amount as it is written (``reserve``, in the payment's own transaction, after its
debit), one conditional ``UPDATE`` (``outstanding + amount <= float``), so racing payments never
pass it; one it cannot cover is refused (``TREASURY_FLOAT_SHORT``) and its whole transaction
undone: nothing debited, nothing written. A rail without a float is not bounded. Its level
(``low_cents``) tells the operator once as a reservation leaves less than it available (a mail to
``AITOPUP_OPERATOR_EMAILS``, a warning in the log, and ``low`` in the treasury's read:
``treasury_alerts``, with hysteresis).

Its ledger (``treasury_entries``) is written by the payment's moves (``moved``, in the move's
transaction, so once per move whatever races it): ``paid_out`` as its credential is issued,
``used`` with what the seller took, ``released`` with what it did not; each move that ends a
payment gives its amount back to the rail's outstanding. A payment the merchant's own instrument
paid (``own``) touches none of this."""

from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from pydantic import ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from ..protocols.base import WALLET
from ..store.expressions import param, upsert
from ..store.models import WALLET_HOLDING, SellerPayment, TreasuryEntry, TreasuryFloat, table_of
from ..store.raw import Raw, Statement
from ..store.types import UTCDateTime
from ..values.clock import new_id, rfc3339_or_none
from ..values.code_names import Code
from ..values.model import Model
from ..values.outcome import ApiError
from . import treasury_alerts

__all__ = [
    "PAID_OUT",
    "RELEASED",
    "USED",
    "Rail",
    "RailSet",
    "moved",
    "rails",
    "reserve",
    "set_rail",
    "share_of",
]


PAID_OUT: Final = "paid_out"  # a credential issued from the treasury's instrument
USED: Final = "used"  # what the seller took with it
RELEASED: Final = "released"  # what it did not take, back to the treasury

_F = table_of(TreasuryFloat)
_E = table_of(TreasuryEntry)
_P = table_of(SellerPayment)
_INT = sa.BigInteger()
_RAIL = (_F.c.env == param("env", sa.String), _F.c.protocol == param("protocol", sa.String))

_RESERVE = Statement.of(
    sa.update(_F)
    .where(*_RAIL, _F.c.outstanding_cents + param("amount", _INT) <= _F.c.float_cents)
    .values(
        outstanding_cents=_F.c.outstanding_cents + param("amount", _INT),
        updated_at=param("now", UTCDateTime()),
    )
    .returning(_F.c.float_cents, _F.c.low_cents, _F.c.outstanding_cents)
)
_BOUNDED = Statement.of(sa.select(_F.c.float_cents).where(*_RAIL))
# What the merchant has out of the rail's treasury, this payment (written) among it: its
# payments from the wallet still holding money, read on their partial index.
_MINE = Statement.of(
    sa.select(sa.func.coalesce(sa.func.sum(_P.c.amount_cents), 0).label("out")).where(
        _P.c.merchant_id == param("merchant_id", sa.String),
        _P.c.env == param("env", sa.String),
        _P.c.protocol == param("protocol", sa.String),
        sa.text(WALLET_HOLDING),
    )
)


def share_of(float_cents: int, percent: int) -> int:
    """The most of a float one merchant may have out at once."""
    return float_cents * percent // 100


async def reserve(
    tx: Raw, env: str, protocol: str, amount: int, now: datetime, *, merchant_id: str, share: int
) -> None:
    """``amount`` out of the rail's float, in the payment's transaction (after its debit and its
    row); refused (``TREASURY_FLOAT_SHORT``, raised so the transaction is undone) when the float
    cannot cover it, or when the merchant's own payments out would pass ``share`` percent of
    it: the float is every merchant's, and one merchant's payments held or unused (its wallet
    given back at their end) would otherwise keep every other's refused at no cost. The
    merchant's payments are one at a time here: each holds its wallet's row from its debit."""
    params = {"env": env, "protocol": protocol, "amount": amount, "now": now}
    rows = await tx.fetch(_RESERVE, params)
    if not rows:
        if await tx.fetch(_BOUNDED, params):
            raise ApiError(Code.TREASURY_FLOAT_SHORT, data={"protocol": protocol, "env": env})
        return  # a rail the operator set no float for
    found = rows[0]
    most = share_of(int(found["float_cents"]), share)
    mine = await tx.fetch(_MINE, {**params, "merchant_id": merchant_id})
    if int(mine[0]["out"]) > most:
        raise ApiError(
            Code.TREASURY_FLOAT_SHORT,
            "This merchant's payments out of the operator's treasury are at their share of its "
            "float: nothing was paid or debited; try again when one ends",
            data={"protocol": protocol, "env": env, "share_cents": most},
        )
    left = int(found["float_cents"]) - int(found["outstanding_cents"])
    if left < int(found["low_cents"]) <= left + amount:
        # Marked once, in this transaction; told by the worker (``treasury_alerts``).
        await treasury_alerts.mark_low(tx, env, protocol, now)


def _entry(row: Any, kind: str, amount: int, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id("tre"),
        "env": row.env,
        "protocol": row.protocol,
        "payment_id": row.id,
        "kind": kind,
        "amount_cents": amount,
        "created_at": now,
    }


async def moved(
    conn: AsyncConnection,
    row: Any,
    now: datetime,
    *,
    issued: bool = False,
    used_cents: int | None = None,
    released_cents: int = 0,
    ended: bool = False,
) -> None:
    """Payment ``row`` (as read, before its move) moved, in the move's transaction: its
    credential ``issued``; the seller took ``used_cents``; ``released_cents`` of what was paid
    out came back; ``ended``: its amount given back to the rail's outstanding."""
    if row.funded_by != WALLET:
        return
    amount = int(row.amount_cents)
    entries = []
    if issued:
        entries.append(_entry(row, PAID_OUT, amount, now))
    if used_cents is not None:
        entries.append(_entry(row, USED, used_cents, now))
    if released_cents > 0:
        entries.append(_entry(row, RELEASED, released_cents, now))
    if entries:
        await conn.execute(sa.insert(_E), entries)
    if not ended:
        return
    back = sa.case(
        (_F.c.outstanding_cents > amount, _F.c.outstanding_cents - amount), else_=sa.literal(0)
    )
    await conn.execute(
        sa.update(_F)
        .where(_F.c.env == row.env, _F.c.protocol == row.protocol)
        .values(outstanding_cents=back, updated_at=now)
    )


# --- The operator's read and setting.


class RailSet(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    env: str = Field(pattern="^(staging|live)$")
    protocol: str = Field(min_length=1, max_length=40, description="The rail: mpp, x402.")
    float_cents: int = Field(
        ge=0, le=10**12, description="The most the treasury has out at once on this rail."
    )
    low_cents: int = Field(
        ge=0, le=10**12, description="Below this available, the operator is told."
    )


class Rail(Model):
    """One rail's treasury in one environment."""

    env: str
    protocol: str
    float_cents: int | None = Field(description="Null: not bounded (no float set).")
    low_cents: int | None
    outstanding_cents: int = Field(description="Paid out or reserved, not yet used or released.")
    available_cents: int | None = Field(description="float_cents - outstanding_cents.")
    low: bool = Field(description="Whether available_cents is below low_cents.")
    low_told_at: str | None = Field(
        description="When the operator was told the float fell below its level (null: not "
        "since the alert re-armed)."
    )
    paid_out_cents: int
    used_cents: int
    released_cents: int


async def rails(conn: AsyncConnection, protocols: list[str]) -> list[Rail]:
    """Every environment's rails, with their floats and the sums of their ledgers."""
    floats = {(r.env, r.protocol): r for r in (await conn.execute(sa.select(_F))).all()}
    sums: dict[tuple[str, str, str], int] = {}
    query = sa.select(_E.c.env, _E.c.protocol, _E.c.kind, sa.func.sum(_E.c.amount_cents))
    for env, protocol, kind, total in await conn.execute(
        query.group_by(_E.c.env, _E.c.protocol, _E.c.kind)
    ):
        sums[(env, protocol, kind)] = int(total or 0)
    shown = []
    # The registry's rails, and any a float was set for that this process does not pay in.
    every = [*protocols, *sorted({p for _, p in floats} - set(protocols))]
    for env in ("staging", "live"):
        for protocol in every:
            found = floats.get((env, protocol))
            out = 0 if found is None else int(found.outstanding_cents)
            available = None if found is None else int(found.float_cents) - out
            shown.append(
                Rail(
                    env=env,
                    protocol=protocol,
                    float_cents=None if found is None else int(found.float_cents),
                    low_cents=None if found is None else int(found.low_cents),
                    outstanding_cents=out,
                    available_cents=available,
                    low=found is not None
                    and available is not None
                    and available < int(found.low_cents),
                    low_told_at=None if found is None else rfc3339_or_none(found.low_told_at),
                    paid_out_cents=sums.get((env, protocol, PAID_OUT), 0),
                    used_cents=sums.get((env, protocol, USED), 0),
                    released_cents=sums.get((env, protocol, RELEASED), 0),
                )
            )
    return shown


async def set_rail(conn: AsyncConnection, body: RailSet, now: datetime) -> None:
    """The rail's float and level, what it has outstanding kept; its level's alert re-armed."""
    values: dict[str, Any] = {
        "float_cents": body.float_cents,
        "low_cents": body.low_cents,
        "updated_at": now,
        "low_at": None,
        "low_told_at": None,
    }
    stmt = upsert(_F).values(env=body.env, protocol=body.protocol, outstanding_cents=0, **values)
    stmt = stmt.on_conflict_do_update(index_elements=[_F.c.env, _F.c.protocol], set_=values)
    await conn.execute(stmt)
