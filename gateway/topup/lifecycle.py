"""The top-up lifecycle: which changes of state are allowed, and each one's plan.

``TRANSITIONS`` is the one table of them: from-state, to-state, and what the change does (refund,
deliver to the recipient, set who decided, its event). Every change of a top-up is one plan built
from the same steps: one refund (``ledger.refund_credit``, its entry, the give-back to the key's
windows), one entry writer (``ledger.entries``), one event body (``event_data``), one delivery to
the recipient (``deliver_steps``, which the send uses too: the credit and the voucher e-mail).
A new state is a row here and the plan
it yields, not a module of statements.

A change from an existing row (``move``) is a plan whose first, required step finds the row in
its from-state and locks it (``FOR UPDATE`` on PostgreSQL; SQLite's writer holds the database):
of two changes racing for one row, exactly one finds it, and the other writes nothing. The send
(from ``NEW``) is the send's own plan (``service``), built from the same steps.

The parameters of a change's plan are a contract, ``Moving``: the plan is built with its field
names, so a step that binds a name no field supplies fails when the plan is built.
"""

import dataclasses
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .. import outbox
from ..ledger import alerts, giveback
from ..ledger import service as ledger
from ..mail import caps
from ..mail import rows as mail
from ..policies import rules, spend
from ..store.compose import Applied, Plan, Refs, Step, steps
from ..store.expressions import const, materialized, param
from ..store.models import Topup, table_of
from ..store.raw import Conn, Construct, raw
from ..store.types import UTCDateTime
from ..upstreams import work
from ..values.code_names import Code
from ..values.statuses import CANCELLED, DELIVERED, DENIED, EXPIRED, FAILED, HELD, PENDING

__all__ = [
    "FULFILLING",
    "NEW",
    "STATES",
    "TRANSITIONS",
    "ChangeRequest",
    "Changed",
    "Moving",
    "NoSuchTransition",
    "Transition",
    "change",
    "deliver_steps",
    "event_data",
    "move",
    "plan",
    "transition",
]

_T = table_of(Topup)

NEW = "new"  # before the send: no row yet
STATES = (NEW, PENDING, HELD, DELIVERED, FAILED, CANCELLED, DENIED, EXPIRED)
# The send to an upstream (New API, OpenRouter): the top-up is ``pending`` while its upstream
# work (``fulfilments``, written by the same plan) is due; not a status of its own.
FULFILLING = "fulfilling"


@dataclass(frozen=True, slots=True)
class Transition:
    """``refund``: the amount back to the merchant's wallet and the key's windows;
    ``deliver``: the recipient credited (and counted as one the key has paid); ``decided``: who
    decided is recorded; ``window``: a held send's approval window must be ``open`` (a decision)
    or ``closed`` (the expiry); ``event``: its type, none when ``None``."""

    source: str
    target: str
    code: Code | None  # the outcome's code at a door; none for the worker's expiry
    event: str | None
    refund: bool = False
    deliver: bool = False
    decided: bool = False
    window: str | None = None
    fulfil: bool = False  # the change writes its upstream work (``upstreams.work``)

    @property
    def status(self) -> str:
        """The status the top-up is left in."""
        return PENDING if self.target == FULFILLING else self.target


def _row(source: str, target: str, code: Code | None, event: str | None, **how: Any) -> Transition:
    return Transition(source, target, code, event, **how)


_DECISION = {"decided": True, "window": "open"}

TRANSITIONS: dict[tuple[str, str], Transition] = {
    (t.source, t.target): t
    for t in [
        # The send: its own plan (``service``), debited and counted first.
        _row(NEW, DELIVERED, Code.TOPUP_DELIVERED, "topup.delivered", deliver=True),
        _row(NEW, PENDING, Code.TOPUP_PENDING, None),
        _row(NEW, FULFILLING, Code.TOPUP_PENDING, None, fulfil=True),
        _row(NEW, HELD, Code.TOPUP_AWAITING_APPROVAL, "topup.approval_required"),
        _row(NEW, FAILED, Code.TOPUP_FAILED, "topup.failed", refund=True),
        # A pending top-up: cancelled by its merchant, or finished by its upstream.
        _row(PENDING, CANCELLED, Code.TOPUP_CANCELLED, "topup.cancelled", refund=True),
        _row(PENDING, DELIVERED, Code.TOPUP_DELIVERED, "topup.delivered", deliver=True),
        _row(PENDING, FAILED, Code.TOPUP_FAILED, "topup.failed", refund=True),
        # A held send: approved (staging's magic recipients apply then), denied, or expired.
        _row(HELD, DELIVERED, Code.TOPUP_DELIVERED, "topup.delivered", deliver=True, **_DECISION),
        _row(HELD, FAILED, Code.TOPUP_FAILED, "topup.failed", refund=True, **_DECISION),
        _row(HELD, PENDING, Code.TOPUP_PENDING, None, **_DECISION),
        # Approved with an upstream set for its platform: fulfilling, its work written with it.
        _row(HELD, FULFILLING, Code.TOPUP_PENDING, None, fulfil=True, **_DECISION),
        _row(HELD, DENIED, Code.TOPUP_DENIED, "topup.approval_denied", refund=True, **_DECISION),
        _row(
            HELD,
            EXPIRED,
            None,
            "topup.approval_expired",
            refund=True,
            decided=True,
            window="closed",
        ),
    ]
}


class NoSuchTransition(LookupError):
    """A change the table does not allow: nothing was written."""


def transition(source: str, target: str) -> Transition:
    found = TRANSITIONS.get((source, target))
    if found is None:
        raise NoSuchTransition(f"a top-up does not go from {source} to {target}")
    return found


def event_data(
    txn_id: str,
    status: str,
    platform: str,
    amount_cents: int,
    recipient_email: str,
    metadata: dict[str, Any] | None,
    **extra: Any,
) -> dict[str, Any]:
    """The body of every top-up event: the one builder, for the send and every change."""
    return {
        "transaction_id": txn_id,
        "status": status,
        "platform": platform,
        "amount_cents": amount_cents,
        "recipient_email": recipient_email,
        "metadata": metadata,
        **extra,
    }


def deliver_steps(*, after: str) -> list[Step]:
    """The recipient's credit (step ``recipient``: its wallet's id and balance after) and their
    voucher e-mail (step ``mail``, unless the send or the merchant turned it off), once step
    ``after`` has returned a row: how the send and every later delivery deliver."""
    return [
        Step("recipient", lambda refs: ledger.recipient_credit(refs, after=after)),
        *mail.voucher_steps(after=after),
    ]


def refund_steps(*, after: str) -> list[Step]:
    """The one refund: ``:amount`` back to the merchant's wallet ``:wallet_id`` with its
    ``topup_refund`` entry, and to the key's windows ``:buckets``, once step ``after`` has
    returned a row; the grants the send was drawn from get it back after the plan
    (``giveback``, which settles the wallet first)."""
    return [
        Step("refund", lambda refs: ledger.refund_credit(refs, after=after)),
        Step(
            "refund_entries",
            lambda refs: ledger.entries(
                ledger.numbered(
                    refs.col("refund", ledger.COUNT),
                    ledger.Line(ledger.merchant_wallet(), ledger.amount(), const("topup_refund")),
                ),
                after=refs.after("refund"),
            ),
        ),
        *spend.give_back_steps(after=after),
    ]


@dataclass(frozen=True, slots=True)
class Moving:
    """Every parameter of a change's plan, each named as the steps bind it. The plan is built
    with these names, so a step that binds another fails at build; a value a change does not
    use is ``None``."""

    txn_id: str
    now: datetime
    env: str
    merchant_id: str
    api_key_id: str
    wallet_id: str  # the merchant's wallet in ``env``: refunds land there
    amount: int
    taken: int  # counted as paid to the recipient (a delivery)
    buckets: list[str]  # the key's windows the send was counted in: a refund gives back to them
    budget_ids: list[str]  # and its budgets' (``spend.give_back_params``)
    budget_buckets: list[str]
    reference: str  # the ledger entries' reference: the top-up's id
    memo: str | None
    platform: str
    email: str
    decided_by: str | None
    failure_reason: str | None
    voucher_sealed: str | None
    voucher_hash: str | None  # the built-in voucher's digest (redemption finds it by it)
    recipient_wallet_id: str | None
    recipient_owner: str | None
    spend_paid_bucket: str | None  # the key's window of what it paid the recipient (rules.PAID)
    spend_paid_limit: int | None
    spend_paid_soft: int | None
    spend_paid_budget: str | None  # always the key's own: null
    event_id: str | None
    event_type: str | None
    event_payload: str | None
    event_prefix: str | None
    event_trigger: str | None
    mail_id: str | None  # a delivery's voucher mail (``mail.voucher_params``)
    mail_status: str | None
    mail_note: str | None  # why it is held (``mail.caps``)
    notify: bool  # the send's ``notify_recipient``, as its row keeps it
    fulfil_provider: str | None  # a change to ``fulfilling``: its upstream work (``work``)
    fulfil_reference: str | None
    fulfil_due_at: datetime | None


_GIVEN = tuple(f.name for f in dataclasses.fields(Moving))


def _guard(t: Transition) -> Construct:
    """The row in its from-state (and, for a held send, its window open or closed), locked.

    Locked by its key alone, then judged: with every condition in one query, the planner of a
    table without statistics read the merchant's every held top-up through their partial index
    for the one it wanted (``materialized``)."""
    now = param("now", UTCDateTime())
    row = materialized(
        select(_T.c.id, _T.c.merchant_id, _T.c.env, _T.c.status, _T.c.approval_expires_at)
        .where(_T.c.id == param("txn_id", String))
        .with_for_update(),
        "guarded",
    )
    conditions: list[ColumnElement[bool]] = [
        row.c.merchant_id == param("merchant_id", String),
        row.c.env == param("env", String),
        row.c.status == const(t.source),
    ]
    if t.window == "open":
        conditions.append(row.c.approval_expires_at > now)
    elif t.window == "closed":
        conditions.append(row.c.approval_expires_at <= now)
    return select(row.c.id).where(*conditions)


def _change(refs: Refs, t: Transition) -> Construct:
    """The row's new state, after every other step (each of which waited for the guard)."""
    values: dict[str, Any] = {
        "status": const(t.status),
        "updated_at": param("now", UTCDateTime()),
    }
    if t.decided:
        values["decided_by"] = param("decided_by", String)
    if t.target == FAILED:
        values["failure_reason"] = param("failure_reason", String)
    if t.deliver:
        values["voucher_sealed"] = param("voucher_sealed", String)
        values["voucher_hash"] = param("voucher_hash", String)
        values["recipient_wallet_id"] = refs.col("recipient", "id")
        values["recipient_balance_cents"] = refs.col("recipient", "balance_cents")
    gate = refs.after("recipient") if t.deliver else refs.after("guard")
    return update(_T).where(_T.c.id == param("txn_id", String), gate).values(values)


@functools.cache
def plan(source: str, target: str) -> Plan:
    """The plan of one change from an existing row: find and lock it (required), refund or
    deliver, the event and its deliveries, then the row's new state."""
    t = transition(source, target)
    assert source != NEW, "the send is the send's own plan"
    delivering: list[Step] = []
    if t.deliver:

        def credited(refs: Refs) -> Construct:
            line = ledger.Line(refs.col("recipient", "id"), ledger.amount(), const("topup_credit"))
            numbered = ledger.numbered(refs.col("recipient", ledger.COUNT), line)
            return ledger.entries(numbered, after=refs.after("recipient"))

        delivering = [
            *deliver_steps(after="guard"),
            Step("credit_entries", credited),
            # Its recipient is now one the key has paid (approval for new recipients).
            *spend.count_steps([rules.PAID], after="guard"),
        ]
    return Plan(
        steps(
            Step("guard", lambda _: _guard(t), required=True),
            refund_steps(after="guard") if t.refund else [],
            delivering,
            outbox.event_steps("event", after=lambda r: r.after("guard")) if t.event else [],
            [Step("fulfilment", lambda r: work.work_step(r, after="guard"))] if t.fulfil else [],
            Step("topup", lambda refs: _change(refs, t)),
        ),
        given=_GIVEN,
    )


@dataclass(frozen=True, slots=True)
class Changed:
    """A change applied: what each step of its plan returned (``applied.one("recipient")``:
    a delivery's wallet and its balance after) and the outbox work to wake the workers for after
    commit."""

    applied: Applied
    work: list[str]


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """One change asked of top-up ``row`` (as read): to ``target`` from ``source`` (its status
    as read, by default), refunds landing in the merchant's wallet ``wallet_id``, at ``now``.
    ``decided_by``: who decided (a decision, the expiry); ``failure_reason``: a change to
    ``failed``; ``voucher_sealed``/``voucher_hash``: a delivery's voucher; ``event_extra``: added
    to the event's body (an upstream's ``fulfilment``); ``fulfil``: a change to ``fulfilling``,
    the upstream's provider and when its work falls due; ``mail_gate``: the caps a delivery's
    voucher mail passed (``mail.caps``)."""

    row: Any
    target: str
    wallet_id: str
    now: datetime
    decided_by: str | None = None
    failure_reason: str | None = None
    voucher_sealed: str | None = None
    voucher_hash: str | None = None
    source: str | None = None
    event_extra: dict[str, Any] | None = None
    fulfil: tuple[str, datetime] | None = None
    mail_gate: caps.Gate | None = None


async def move(conn: AsyncConnection, asked: ChangeRequest) -> tuple[Any, list[str]] | None:
    """The change ``asked``, in the caller's transaction: the row as changed and the outbox work
    to wake for after the commit (the event's deliveries, and a delivery's voucher mail when
    sent), or ``None`` if the row had left its from-state (or its window) first, and then
    nothing changed. Raises ``NoSuchTransition`` for a change the table does not allow."""
    changed = await change(conn, asked)
    if changed is None:
        return None
    return (await conn.execute(select(_T).where(_T.c.id == asked.row.id))).one(), changed.work


async def change(conn: Conn, asked: ChangeRequest) -> Changed | None:
    """``move`` without reading the row back: on the driver too (``Database.run``'s work,
    statements only), for a change on the hot path (an upstream's answer recorded)."""
    source = asked.row.status if asked.source is None else asked.source
    t = transition(source, asked.target)
    params = _moving(asked, t)
    given = {name: getattr(params, name) for name in _GIVEN}
    applied: Applied | None = await plan(source, asked.target).run(await raw(conn), given)
    if applied is None:
        return None
    work = applied.ids("event_deliveries") if t.event else []
    if t.deliver and params.mail_status == mail.QUEUED:
        work += applied.ids("mail")
    if t.refund:  # back to the grants it was drawn from, and maybe above the wallet's levels
        row = asked.row
        work += await giveback.give_back(
            conn,
            wallet_id=asked.wallet_id,
            reference=row.id,
            amount=int(row.amount_cents),
            now=asked.now,
        )
        work += await alerts.recover(
            conn, wallet_id=asked.wallet_id, merchant_id=row.merchant_id, env=row.env, now=asked.now
        )
    return Changed(applied, work)


def _moving(asked: ChangeRequest, t: Transition) -> Moving:
    row, now, failure_reason, fulfil = asked.row, asked.now, asked.failure_reason, asked.fulfil
    mail_gate = asked.mail_gate
    assert (fulfil is not None) == t.fulfil, "a change to fulfilling says its upstream"
    paid = rules.paid_window(row.recipient_email) if t.deliver else None
    held = None if mail_gate is None else mail_gate.held
    mailing = mail.voucher_params(row.env, held) if t.deliver else None
    event: outbox.EventParams | None = None
    if t.event is not None:
        extra = {} if failure_reason is None else {"failure_reason": failure_reason}
        extra.update(asked.event_extra or {})
        if t.deliver and mail_gate is not None:
            extra["mail"] = mail_gate.word(row.env)
        data = event_data(
            row.id,
            t.target,
            row.platform,
            row.amount_cents,
            row.recipient_email,
            row.metadata,
            **extra,
        )
        event = outbox.event_params(t.event, now, row.env, data)
    return Moving(
        txn_id=row.id,
        now=now,
        env=row.env,
        merchant_id=row.merchant_id,
        api_key_id=row.api_key_id,
        wallet_id=asked.wallet_id,
        amount=row.amount_cents,
        taken=row.amount_cents,
        **spend.give_back_params(list(row.spend_buckets or [])),
        reference=row.id,
        memo=None,
        platform=row.platform,
        email=row.recipient_email,
        decided_by=asked.decided_by,
        failure_reason=failure_reason,
        voucher_sealed=asked.voucher_sealed,
        voucher_hash=asked.voucher_hash,
        recipient_wallet_id=ledger.new_wallet_id() if t.deliver else None,
        recipient_owner=(
            ledger.recipient_owner(row.merchant_id, row.platform, row.recipient_email)
            if t.deliver
            else None
        ),
        spend_paid_bucket=None if paid is None else paid.bucket,
        spend_paid_limit=None if paid is None else paid.limit_cents,
        spend_paid_soft=None if paid is None else paid.soft_cents,
        spend_paid_budget=None,
        event_id=None if event is None else event["event_id"],
        event_type=None if event is None else event["event_type"],
        event_payload=None if event is None else event["event_payload"],
        event_prefix=None if event is None else event["event_prefix"],
        event_trigger=None if event is None else event["event_trigger"],
        mail_id=None if mailing is None else mailing["mail_id"],
        mail_status=None if mailing is None else mailing["mail_status"],
        mail_note=None if mailing is None else mailing["mail_note"],
        notify=bool(row.notify_recipient),
        fulfil_provider=None if fulfil is None else fulfil[0],
        fulfil_reference=None if fulfil is None else work.reference(row.id),
        fulfil_due_at=None if fulfil is None else fulfil[1],
    )
