"""What a merchant's environment has paid each seller in the current calendar windows (today, this
week, this month), and what each key that paid one may still pay it under its
``per_payee_limit``: the dashboard's panel beside its payments.

A seller is where the money went, its destination (``Payer.destination``): what
``per_payee_limit`` counts by, whatever url named it. A payment counts as paid what it holds in
its key's windows: its amount while it is held, what the seller took once used, nothing once its
move gave the amount back (a move the table marks ``release``: ``states.TRANSITIONS``). It
counts in the windows that held the moment it was made, as its key's count did; the windows are
the policies' own (``policies.windows``).

What a key may still pay a seller is read from the row its next payment's count is checked
against: the key's policy (under its template) names the window (``rules.counted_windows``, for
the payment ``rules.seller`` makes of that seller), and ``usage.read`` reads it. No rule of a
limit is written here.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from pydantic import Field

from ..callers import Caller
from ..policies import rules
from ..policies.model import Interval
from ..policies.payees import Payee
from ..policies.templates import effective_of
from ..policies.usage import WindowUsage, read
from ..policies.windows import Window, window
from ..store.engine import Database
from ..store.models import ApiKeyRow, PolicyTemplate, SellerPayment, table_of
from ..values.clock import id_floor, rfc3339, utcnow
from ..values.code_names import Code
from ..values.model import Model
from ..values.outcome import Outcome
from .service import scoped, visible
from .states import TRANSITIONS, USED

__all__ = ["MAX_PAYEES", "WINDOWS", "PaidToPayees", "PayeeLimit", "PayeePaid", "paid_to_payees"]

# The windows shown, each a calendar window of the policies'.
WINDOWS: Final[tuple[Interval, ...]] = ("daily", "weekly", "monthly")
# Sellers shown, those paid last first: a panel, not a report.
MAX_PAYEES = 50
# Ids sort by the time they were made (``new_id``), within the clocks' skew between
# processes: the range of ids read starts this much before the earliest window.
_SKEW = timedelta(hours=1)

_P, _K, _PT = table_of(SellerPayment), table_of(ApiKeyRow), table_of(PolicyTemplate)
# The states a move gave the whole amount back on the way into.
_GIVEN_BACK = sorted({t.target for t in TRANSITIONS.values() if t.release})


class CalendarWindow(Model):
    interval: Interval
    starts_at: str = Field(description="RFC 3339 UTC")
    resets_at: str = Field(description="RFC 3339 UTC")


class PayeeLimit(Model):
    """What one key may still pay the seller in the current window of its
    ``per_payee_limit``."""

    key_id: str
    key_name: str | None
    key_prefix: str
    window: WindowUsage


class PayeePaid(Model):
    payee: str = Field(
        description="The seller: where the money went (the payments' destination), whatever "
        "url named it."
    )
    daily_cents: int
    weekly_cents: int
    monthly_cents: int
    last_paid_at: str = Field(description="RFC 3339 UTC: its latest payment's.")
    limits: list[PayeeLimit] = Field(
        description="Per key that paid it in these windows and has a per_payee_limit: what it "
        "may still pay it."
    )


class PaidToPayees(Model):
    windows: list[CalendarWindow]
    payees: list[PayeePaid]
    more: bool = Field(description=f"More sellers were paid than the {MAX_PAYEES} shown.")


def _held() -> Any:
    """What a payment holds of its amount: all while held, what the seller took once used,
    nothing once given back."""
    return sa.case(
        (_P.c.status == USED, sa.func.coalesce(_P.c.used_cents, 0)),
        (_P.c.status.in_(_GIVEN_BACK), 0),
        else_=_P.c.amount_cents,
    )


def _paid_in(start: datetime) -> Any:
    return sa.func.coalesce(sa.func.sum(sa.case((_P.c.created_at >= start, _held()), else_=0)), 0)


async def paid_to_payees(db: Database, caller: Caller, now: datetime | None = None) -> Outcome:
    """Per seller paid in the current windows, those paid last first: what was paid in each,
    and what each key with a ``per_payee_limit`` that paid it may still pay it."""
    scoped(caller)
    now = now or utcnow()
    shown: list[Window] = [window(interval, now) for interval in WINDOWS]
    since = min(w.starts_at for w in shown if w.starts_at is not None)
    mine = sa.and_(
        visible(caller), _P.c.id >= id_floor("pay", since - _SKEW), _P.c.created_at >= since
    )
    last = sa.func.max(_P.c.created_at)
    paid = (
        sa.select(
            _P.c.destination,
            *(_paid_in(w.starts_at).label(w.interval) for w in shown if w.starts_at is not None),
            last.label("last"),
        )
        .where(mine)
        .group_by(_P.c.destination)
        .order_by(last.desc(), _P.c.destination)
        .limit(MAX_PAYEES + 1)
    )
    async with db.read() as conn:
        rows = (await conn.execute(paid)).all()
        listed = rows[:MAX_PAYEES]
        destinations = [str(r.destination) for r in listed]
        pairs = (
            sa.select(_P.c.destination, _P.c.api_key_id)
            .where(mine, _P.c.destination.in_(destinations))
            .distinct()
            .subquery()
        )
        payers = (
            await conn.execute(
                sa.select(
                    pairs.c.destination,
                    _K.c.id,
                    _K.c.name,
                    _K.c.display_prefix,
                    _K.c.policy,
                    _PT.c.policy.label("template"),
                )
                .join(_K, _K.c.id == pairs.c.api_key_id)
                .outerjoin(_PT, _PT.c.id == _K.c.template_id)
                .where(_K.c.revoked_at.is_(None))
            )
        ).all()
    limits = await _limits(db, payers, now)
    payees = [
        PayeePaid(
            payee=destination,
            daily_cents=int(row.daily),
            weekly_cents=int(row.weekly),
            monthly_cents=int(row.monthly),
            last_paid_at=rfc3339(row.last),
            limits=limits.get(destination, []),
        )
        for destination, row in zip(destinations, listed, strict=True)
    ]
    windows = [
        CalendarWindow(
            interval=w.interval, starts_at=rfc3339(w.starts_at), resets_at=rfc3339(w.resets_at)
        )
        for w in shown
        if w.starts_at is not None and w.resets_at is not None
    ]
    found = PaidToPayees(windows=windows, payees=payees, more=len(rows) > MAX_PAYEES)
    return Outcome(Code.SUCCESS, found)


async def _limits(
    db: Database, payers: Sequence[Any], now: datetime
) -> dict[str, list[PayeeLimit]]:
    """Per seller, what each key of ``payers`` (seller, key and its policy) with a
    ``per_payee_limit`` may still pay it now: one read of a key's windows per key."""
    by_key: dict[str, list[tuple[str, rules.Counted]]] = {}
    keys: dict[str, Any] = {}
    for row in payers:
        policy = effective_of(row.policy, row.template)
        if policy.per_payee_limit is None:
            continue
        destination = str(row.destination)
        payment = rules.seller(Payee("", destination), 1)
        for each in rules.counted_windows(policy, payment.recipient, now, destination):
            if each.source == "per_payee":
                by_key.setdefault(str(row.id), []).append((destination, each))
        keys[str(row.id)] = row
    found: dict[str, list[PayeeLimit]] = {}
    for key_id, windows in sorted(by_key.items()):
        counted = [c for _, c in windows]
        row = keys[key_id]
        for (destination, _), usage in zip(windows, await _read(db, key_id, counted), strict=True):
            found.setdefault(destination, []).append(
                PayeeLimit(
                    key_id=key_id, key_name=row.name, key_prefix=row.display_prefix, window=usage
                )
            )
    return found


async def _read(db: Database, key_id: str, counted: list[rules.Counted]) -> list[WindowUsage]:
    return await db.run(lambda tx: read(tx, key_id, counted), read_only=True)
