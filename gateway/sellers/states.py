"""A payment to a seller's states and the moves between them, in one table, as an order's
(``billing.orders.states``), and the plan of each move.

``TRANSITIONS`` is the table: from-state, to-state, and what the move does besides its status:
the amount credited back to the wallet and given back to the windows it counted in
(``release``), and its event. A move is one plan (``store.compose``) whose first, required step
is the table's one conditional UPDATE (``store.states``: its from-state in the WHERE), so of two
moves racing from one state exactly one moves the row, and the other writes nothing: a
release at expiry credits the wallet once, however many workers reach it.

```
from              to                what                                    event
(new)             pending           the debit, its windows counted          —
(new)             pending_approval  the debit, held: nothing made           payment.pending_approval
pending_approval  pending           approved: its credential to be made     —
pending_approval  released          approved once its challenge expired     payment.released
pending_approval  denied            denied (or the kill switch): released   payment.denied
pending_approval  expired           not decided in its window: released     payment.expired
pending           authorized        its credential made and kept sealed     payment.authorized
pending           failed            no credential made: released            payment.failed
authorized        used              the seller took it (the rest released)  payment.used
authorized        released          not used by its expiry, or ended there  payment.released
```

A payment its merchant's own instrument paid (``funded_by`` ``own``) debited nothing: its
release gives the amount back to the windows it counted in, and credits the wallet nothing.

A move out of ``pending_approval`` records who decided it (``decided_by``), and is made only
while its approval window is open (a decision) or once it has closed (the expiry), so a late
approval and the expiry never both move it. No move leaves ``used``, ``released``, ``failed``,
``denied`` or ``expired``.
"""

import functools
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, TypedDict

from sqlalchemy import Integer, String
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import outbox
from ..ledger import alerts, giveback
from ..ledger import service as ledger
from ..policies import spend
from ..protocols.base import LONGEST_CHALLENGE_SECONDS, OWN
from ..store.compose import Plan, Refs, Step, steps
from ..store.expressions import const, param
from ..store.models import SellerPayment, SellerPaymentWork, table_of
from ..store.queue import Queue
from ..store.raw import Construct, raw
from ..store.states import NEW, States
from ..store.types import UTCDateTime
from ..values.clock import rfc3339
from ..values.settings import Settings
from . import treasury

__all__ = [
    "AUTHORIZED",
    "DEBIT_KIND",
    "DENIED",
    "EXPIRED",
    "FAILED",
    "HELD",
    "PENDING",
    "QUEUE",
    "RELEASED",
    "RELEASE_KIND",
    "STATES",
    "TRANSITIONS",
    "USED",
    "Transition",
    "event_data",
    "first",
    "held_until",
    "make_seconds",
    "move",
    "pending_until",
    "plan",
    "release_at",
    "schedule",
]

PENDING: Final = "pending"  # debited; its credential being made
AUTHORIZED: Final = "authorized"  # its credential made: the amount held until used or released
USED: Final = "used"  # the seller took it
RELEASED: Final = "released"  # not used: credited back
FAILED: Final = "failed"  # no credential made: credited back
HELD: Final = "pending_approval"  # debited and held by a rule of its key's policy: nothing made
DENIED: Final = "denied"  # held, then denied (or cancelled by the kill switch): credited back
EXPIRED: Final = "expired"  # held, and not decided in its window: credited back
# Who decided a held payment when no person or key did.
BY_EXPIRY, BY_FREEZE = "expiry", "freeze"

# The ledger entries' kinds: the debit (``authorizing``), and what a release credits back.
DEBIT_KIND: Final = "payment_debit"
RELEASE_KIND: Final = "payment_release"

_P = table_of(SellerPayment)
_W = table_of(SellerPaymentWork)
_INT = Integer()

# The payment's work (``holds``): ``due`` while there is something to do, ``done`` after.
QUEUE = Queue(_W, due="due", done="done", failed="failed", key="payment_id")


@dataclass(frozen=True, slots=True)
class Transition:
    """``release``: the amount (of a use, what the seller did not take) back to the wallet and
    the windows; ``event``: its type."""

    source: str
    target: str
    release: bool = False
    event: str | None = None


TRANSITIONS: dict[tuple[str, str], Transition] = {
    (t.source, t.target): t
    for t in [
        Transition(NEW, PENDING),
        Transition(NEW, HELD, event="payment.pending_approval"),
        Transition(HELD, PENDING),
        Transition(HELD, RELEASED, release=True, event="payment.released"),
        Transition(HELD, DENIED, release=True, event="payment.denied"),
        Transition(HELD, EXPIRED, release=True, event="payment.expired"),
        Transition(PENDING, AUTHORIZED, event="payment.authorized"),
        Transition(PENDING, FAILED, release=True, event="payment.failed"),
        Transition(AUTHORIZED, USED, event="payment.used"),
        Transition(AUTHORIZED, RELEASED, release=True, event="payment.released"),
    ]
}

STATES: States[Transition] = States("a payment to a seller", _P, TRANSITIONS)


def first(held: bool = False) -> str:
    """The status a payment is written with: ``pending``, or held for approval."""
    return STATES.first(HELD if held else PENDING)


# --- When the worker looks at a payment (``holds``).

# Past the inline try's bound: the worker does not take a payment its request still makes.
MARGIN_SECONDS = 5.0
# After it is authorized: when its use is looked at, by the number of looks before.
LOOKS = (15.0, 60.0, 300.0, 900.0, 3600.0)
# After its expiry: the provider's own expiry, and a use reported late, are waited for.
GRACE_SECONDS = 60.0


def make_seconds(settings: Settings) -> float:
    """The longest one try of a payer's ``make`` (or ``used``, ``revoke``) is given."""
    return settings.payment_timeout_seconds


def pending_until(settings: Settings, now: datetime) -> datetime:
    """When a payment written ``now`` is the worker's, if its request has not moved it by then."""
    return now + timedelta(seconds=make_seconds(settings) + MARGIN_SECONDS)


def held_until(row: Any) -> datetime:
    """When payment ``row`` stops holding its amount, unused: its challenge's expiry, never past
    today's bound on one (``LONGEST_CHALLENGE_SECONDS`` from when it was written), so a payment
    kept from before expiries were bounded (a seller's year 2200) ends at the bound, not then."""
    expires_at: datetime = row.expires_at
    bound: datetime = row.created_at + timedelta(seconds=LONGEST_CHALLENGE_SECONDS)
    return min(expires_at, bound)


def release_at(expires_at: datetime) -> datetime:
    """When an unused credential is released: never past the last time a datetime holds, so
    a payment kept from before expiries were bounded is still scheduled, never an overflow."""
    grace = timedelta(seconds=GRACE_SECONDS)
    last = datetime.max.replace(tzinfo=expires_at.tzinfo)
    return expires_at + grace if expires_at <= last - grace else last


def schedule(looks: int, now: datetime, expires_at: datetime) -> datetime:
    """When an authorized payment's use is next looked at, after ``looks`` looks: never later
    than its release."""
    delay = LOOKS[min(looks, len(LOOKS) - 1)]
    return min(now + timedelta(seconds=delay), release_at(expires_at))


# --- The moves.


class Moving(TypedDict):
    """Every parameter of a move's plan; what a move does not bind is ``None``."""

    payment_id: str
    now: datetime
    env: str
    merchant_id: str
    api_key_id: str
    wallet_id: str
    amount: int  # what is released: the payment's amount, or what a use did not take
    reference: str
    memo: str | None
    buckets: list[str]
    budget_ids: list[str]
    budget_buckets: list[str]
    made_sealed: str | None
    used_cents: int | None
    failure_reason: str | None
    decided_by: str | None
    event_id: str
    event_type: str
    event_payload: str
    event_prefix: str
    event_trigger: str


def _moved(t: Transition) -> Construct:
    values: dict[str, Any] = {}
    if t.target == AUTHORIZED:
        values["made_sealed"] = param("made_sealed", String)
    elif t.target == USED:
        values["used_cents"] = param("used_cents", _INT)
    elif t.target == FAILED:
        values["failure_reason"] = param("failure_reason", String)
    now = param("now", UTCDateTime())
    where = [_P.c.id == param("payment_id", String)]
    if t.source == HELD:
        # Decided while its window is open; expired once it has closed: never both.
        values["decided_by"] = param("decided_by", String)
        window = _P.c.approval_expires_at
        where.append(window <= now if t.target == EXPIRED else window > now)
        if t.target == RELEASED:
            values["failure_reason"] = param("failure_reason", String)
    return STATES.moving(t.source, t.target, now, *where, values=values)


def _release_steps(own: bool) -> list[Step]:
    """``:amount`` back to the wallet ``:wallet_id`` with its ``payment_release`` entry (none
    when ``own``: the wallet paid nothing), and to the windows the payment counted in, once the
    move moved the row; the grants the payment was drawn from get it back after the plan
    (``giveback``)."""
    if own:
        return spend.give_back_steps(after="moved")
    line = ledger.Line(ledger.merchant_wallet(), ledger.amount(), const(RELEASE_KIND))
    return [
        Step("release", lambda refs: ledger.refund_credit(refs, after="moved")),
        Step(
            "release_entries",
            lambda refs: ledger.entries(
                ledger.numbered(refs.col("release", ledger.COUNT), line),
                after=refs.after("release"),
            ),
        ),
        *spend.give_back_steps(after="moved"),
    ]


@functools.cache
def plan(source: str, target: str, released: bool, own: bool = False) -> Plan:
    """The plan of one move: the row moved (required), what it releases (``released``: a
    release, or a use that took less than the amount; ``own``: to the windows alone, the wallet
    having paid nothing), and its event."""
    t = STATES.move_of(source, target)
    assert source != NEW, "a payment is written by its own plan (``authorizing``)"
    assert released == t.release or (target == USED and released)

    def gate(refs: Refs) -> Any:
        return refs.after("moved")

    return Plan(
        steps(
            Step("moved", lambda _: _moved(t), required=True),
            _release_steps(own) if released else [],
            outbox.event_steps("event", after=gate) if t.event else [],
        ),
        given=frozenset(Moving.__required_keys__),
    )


def event_data(row: Any, status: str, **extra: Any) -> dict[str, Any]:
    """What every event of a payment says of it (``row``: the payment as read)."""
    return {
        "id": row.id,
        "status": status,
        "amount_cents": int(row.amount_cents),
        "currency": row.currency,
        "payee": row.payee,
        "destination": row.destination,
        "protocol": row.protocol,
        "url": row.url,
        "expires_at": rfc3339(row.expires_at),
        "funded_by": row.funded_by,
        **extra,
    }


async def move(
    conn: AsyncConnection,
    row: Any,
    target: str,
    now: datetime,
    *,
    made_sealed: str | None = None,
    used_cents: int | None = None,
    reason: str | None = None,
    decided_by: str | None = None,
) -> list[str] | None:
    """Payment ``row`` (as read) moved from its status to ``target`` in the caller's
    transaction: the deliveries of its event, or ``None`` when it was no longer there (another
    move won). ``NoSuchMove`` for a move the table does not allow."""
    t = STATES.move_of(row.status, target)
    amount = int(row.amount_cents)
    if target == USED:
        assert used_cents is not None
        given_back = amount - used_cents
    else:
        given_back = amount if t.release else 0
    extra: dict[str, Any] = {}
    if target == USED:
        extra["used_cents"] = used_cents
    elif target in (RELEASED, DENIED, EXPIRED):
        extra["released_cents"] = given_back
    if reason is not None and target in (FAILED, RELEASED):
        extra["reason"] = reason
    told = event_data(row, target, **extra)
    params: dict[str, Any] = {
        "payment_id": row.id,
        "now": now,
        "env": row.env,
        "merchant_id": row.merchant_id,
        "api_key_id": row.api_key_id,
        "wallet_id": row.wallet_id,
        "amount": given_back,
        "reference": row.id,
        "memo": _memo(row, t),
        **spend.give_back_params(_buckets(row.spend_buckets)),
        "made_sealed": made_sealed,
        "used_cents": used_cents,
        "failure_reason": reason,
        "decided_by": decided_by,
        **outbox.event_params(t.event or "", now, row.env, told),
    }
    own = row.funded_by == OWN
    applied = await plan(row.status, target, given_back > 0, own).run(await raw(conn), params)
    if applied is None:
        return None
    await treasury.moved(
        conn,
        row,
        now,
        issued=target == AUTHORIZED,
        used_cents=used_cents if target == USED else None,
        released_cents=given_back if row.status == AUTHORIZED else 0,
        ended=target not in (PENDING, AUTHORIZED),
    )
    work = applied.ids("event_deliveries") if t.event else []
    if given_back > 0 and not own:  # back to the grants it was drawn from, maybe above the levels
        work += await giveback.give_back(
            conn,
            wallet_id=row.wallet_id,
            reference=row.id,
            amount=given_back,
            now=now,
        )
        work += await alerts.recover(
            conn, wallet_id=row.wallet_id, merchant_id=row.merchant_id, env=row.env, now=now
        )
    return work


def _memo(row: Any, t: Transition) -> str:
    """The release's ledger memo: why the amount came back."""
    if t.source == HELD:
        return f"payment {row.id} {t.target} before anything was paid"[:500]
    return f"payment {row.id} {t.target}: not taken by {row.payee}"[:500]


def _buckets(stored: Any) -> list[str]:
    """The windows a payment counted in, as its row keeps them (a list, or JSON text)."""
    if stored is None:
        return []
    return list(json.loads(stored) if isinstance(stored, str) else stored)
