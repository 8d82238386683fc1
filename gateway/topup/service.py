"""The send, and staging's sandbox funding; a top-up's reads and the balance are ``reads``, its
cancel ``cancelling`` (both named here too). Every change is one transaction: the debit, the
credit, the top-up row, its ledger entries and its outbox events commit together or not at all.
The send is the lifecycle's changes from ``NEW`` (``lifecycle.TRANSITIONS``); every later change
of a top-up is ``lifecycle.move``.

Operations take typed inputs and return an ``Outcome`` (or raise ``ApiError``): the doors (REST,
the dashboard, MCP) render it and wake the workers for its rows after the commit.
"""

import functools
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    String,
    insert,
    null,
    true,
)

from keys import Sealer, mint_voucher_code

from .. import idempotency, outbox
from ..budgets.service import drawn
from ..callers import Caller
from ..ledger import alerts, grants, refills
from ..ledger import service as ledger
from ..mail import rows as mail
from ..payments import once
from ..payments.plan import DEBIT, Filled, payment_steps
from ..policies import rules, spend, thresholds
from ..store.compose import Plan, Refs, Step
from ..store.engine import Database
from ..store.expressions import const, from_rows, param
from ..store.models import Topup, table_of
from ..store.raw import Construct, Raw
from ..store.types import UTCDateTime
from ..upstreams import work
from ..values import statuses
from ..values.clock import new_id, rfc3339, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from . import lifecycle, sending
from .reads import read_balance
from .schemas import SendData, SendRequest

__all__ = [
    "DEFAULT_APPROVAL_TTL_SECONDS",
    "FAILED_REASON",
    "HELD",
    "SEND",
    "judge",
    "magic_outcome",
    "request_hash",
    "sandbox_fund",
    "send",
]

log = logging.getLogger(__name__)

_T = table_of(Topup)

SEND = "topup.send"  # the operation's name, which idempotency keys are scoped to
DEFAULT_APPROVAL_TTL_SECONDS = 24 * 3600
HELD = statuses.HELD  # the status of a send held for approval


def _email(body: SendRequest) -> str:
    return str(body.recipient_email).lower()


def _canonical(body: SendRequest) -> dict[str, Any]:
    """The body an idempotency key is matched on: ``notify_recipient`` only when it is not the
    default, so a request made before the field existed matches its retry after."""
    return body.model_dump(
        mode="json", exclude=None if not body.notify_recipient else {"notify_recipient"}
    )


def judge(
    caller: Caller, body: SendRequest, now: datetime, budgets: Sequence[rules.Drawn] = ()
) -> rules.Judged:
    """The key's policy on this send (scope, platform, recipient, per-send cap, its budgets as
    read, ``budgets.service.drawn``), refusing as ``ApiError``: what every send meets first, and
    a paid retry before it pays."""
    payment = rules.Payment(body.amount_cents, _email(body), body.platform)
    return rules.judge(caller.policy, payment, now, budgets, caller.consent)


def request_hash(body: SendRequest) -> str:
    """What an idempotency key of a send is matched on, at every door."""
    return idempotency.fingerprint(SEND, _canonical(body))


def magic_outcome(env: str, email: str) -> str:
    """Staging's magic recipients: ``…+fail@…`` fails and refunds, ``…+pending@…`` waits."""
    if env != "staging":
        return statuses.DELIVERED
    local = email.partition("@")[0]
    if local.endswith("+fail"):
        return statuses.FAILED
    if local.endswith("+pending"):
        return statuses.PENDING
    return statuses.DELIVERED


def _insert_topup(refs: Refs, status: str, *, credited: bool) -> Construct:
    """The top-up row; a delivered one names the recipient's wallet and balance after the
    credit (step ``recipient``)."""
    recipient_id: ColumnElement[Any] = null()
    recipient_balance: ColumnElement[Any] = null()
    gate = refs.after(DEBIT)
    if credited:
        recipient_id = refs.col("recipient", "id")
        recipient_balance = refs.col("recipient", "balance_cents")
        gate = true()
    now = param("now", UTCDateTime())
    row = {
        "id": param("txn_id", String),
        "env": param("env", String),
        "merchant_id": param("merchant_id", String),
        "api_key_id": param("api_key_id", String),
        "platform": param("platform", String),
        "amount_cents": ledger.amount(),
        "recipient_email": param("email", String),
        "recipient_wallet_id": recipient_id,
        "status": const(status),
        "voucher_sealed": param("voucher_sealed", String),
        "voucher_hash": param("voucher_hash", String),
        "recipient_balance_cents": recipient_balance,
        "metadata": param("metadata", JSON()),
        "failure_reason": param("failure_reason", String),
        "spend_buckets": param("spend_buckets", JSON()),
        "approval_expires_at": param("approval_expires_at", UTCDateTime()),
        "notify_recipient": param("notify", Boolean),
        "created_at": now,
        "updated_at": now,
    }
    return from_rows(insert(_T), [row], where=gate)


Windows = tuple[str, ...]  # the names of the send's spend windows


# What a send's answer takes from its plan (``payments.plan.Filled``): the merchant wallet's
# balance after it, and a delivery's recipient's balance and its voucher mail's status (none
# written: the answer's ``off`` stands).
_FILLED: Filled = {"wallet_balance_cents": (DEBIT, "balance_cents")}
_FILLED_DELIVERED: Filled = {
    **_FILLED,
    "new_balance_cents": ("recipient", "balance_cents"),
    "mail": ("mail", "status"),
}


def _filled(sent: lifecycle.Transition) -> Filled:
    return _FILLED_DELIVERED if sent.deliver else _FILLED


def _send_steps(outcome: str, windows: Windows, answered: bool = False) -> list[Step]:
    """The send's writes for one outcome, a payment's (``payments.plan``): then the recipient's
    credit (a delivery only), the top-up row and an upstream's work, among the payment's own;
    ``answered``, its idempotency key with its answer last. A send held for approval is debited
    and counted like a delivered one, and credits no one."""
    debit, amount = ledger.merchant_wallet, ledger.amount
    sent = _sent(outcome)
    # The merchant wallet's entries: the debit moves its count of entries by as many.
    own = [ledger.Line(debit(), -amount(), const("topup_debit"))]
    if sent.refund:  # failed at once: the wallet ends where it began
        own.append(ledger.Line(debit(), amount(), const("topup_refund")))

    def lines(refs: Refs) -> list[ledger.Line]:
        drawn = ledger.given_back(own[0], refs.col(DEBIT, ledger.THROUGH))
        debited = ledger.numbered(refs.col(DEBIT, ledger.COUNT), drawn, *own[1:])
        if sent.deliver:
            credit = ledger.Line(refs.col("recipient", "id"), amount(), const("topup_credit"))
            return [*debited, *ledger.numbered(refs.col("recipient", ledger.COUNT), credit)]
        return debited

    credited = sent.deliver
    return payment_steps(
        windows,
        answered=_filled(sent) if answered else None,
        debited=len(own),
        writes=[
            lifecycle.deliver_steps(after=DEBIT) if credited else [],
            Step("topup", lambda r: _insert_topup(r, sent.status, credited=credited)),
            [Step("fulfilment", lambda r: work.work_step(r, after=DEBIT))] if sent.fulfil else [],
        ],
        lines=lines,
        event=sent.event is not None,
    )


@functools.cache
def _send_plan(outcome: str, windows: Windows = (), answered: bool = False) -> Plan:
    """The plan of ``_send_steps``, built with the names the send supplies for this outcome and
    these windows (``sending.given``): a step binding any other fails here."""
    supplied = sending.given(_sent(outcome), windows, answered)
    return Plan(_send_steps(outcome, windows, answered), given=supplied)


# The send's outcome → its transition's target (``fulfilling`` leaves the top-up pending).
_STATUS = {"held": HELD}


def _sent(outcome: str) -> lifecycle.Transition:
    return lifecycle.transition(lifecycle.NEW, _STATUS.get(outcome, outcome))


FAILED_REASON = "sandbox recipient set to fail"


class Prepared(NamedTuple):
    outcome: str  # delivered, failed, pending or held
    params: dict[str, Any]
    voucher: str | None  # the reply's: delivered, and the caller sees it (``Caller.sees_codes``)
    windows: Windows  # the plan's spend windows
    alerting: thresholds.Alerting | None  # whose windows' levels the send may reach
    fulfilment: dict[str, str] | None = None  # an upstream's: provider and our reference


def send_params(
    sealer: Sealer,
    caller: Caller,
    body: SendRequest,
    now: datetime,
    *,
    held: bool = False,
    counted: Sequence[rules.Counted] = (),
    approval_ttl_seconds: int = DEFAULT_APPROVAL_TTL_SECONDS,
    provider: str | None = None,
    inline_seconds: float = 0.0,
    mail_held: str | None = None,
) -> Prepared:
    """The send's outcome and its plan's parameters (``sending``), from the request, the caller
    and its policy's windows, and the clock. A held send (``held``) meets staging's magic
    recipients only once approved. With an upstream ``provider``, a send that would be
    delivered is ``fulfilling`` instead: debited and pending, its upstream work written with it
    and due once the first try's ``inline_seconds`` and a margin have passed. ``mail_held``:
    why the voucher mail of a delivery is held (``mail.caps``)."""
    env, amount = caller.env, body.amount_cents
    email = _email(body)
    txn_id = new_id("txn")
    outcome = "held" if held else magic_outcome(env, email)
    if provider is not None and outcome == statuses.DELIVERED:
        outcome = lifecycle.FULFILLING
    sent = _sent(outcome)
    if sent.refund:
        counted = ()  # nothing is taken, so nothing is counted
    elif sent.deliver and caller.policy.approval_for_new_recipients:
        counted = [*counted, rules.paid_window(email)]
    voucher = mint_voucher_code(env) if sent.deliver else None
    reason = FAILED_REASON if sent.target == statuses.FAILED else None
    expires = now + timedelta(seconds=approval_ttl_seconds) if sent.target == HELD else None
    announcing = None
    if sent.event is not None:
        extra: dict[str, Any] = {}
        if reason is not None:
            extra["failure_reason"] = reason
        if expires is not None:
            extra["approval_expires_at"] = rfc3339(expires)
        if sent.deliver:
            extra["mail"] = mail_word(caller, body, mail_held)
        if caller.app_id is not None:  # sent by an app, through a consent: it says which
            extra["app_id"] = caller.app_id
        data = lifecycle.event_data(
            txn_id, sent.target, body.platform, amount, email, body.metadata, **extra
        )
        announcing = outbox.event_params(sent.event, now, env, data)
    # After the send's own event: event ids sort in the order the events happened.
    low = alerts.low_params(env, caller.alert_levels, now)
    fields: sending.Sending = {
        "txn_id": txn_id,
        "now": now,
        "env": env,
        "merchant_id": caller.merchant_id,
        "api_key_id": caller.key_id,
        "wallet_id": caller.wallet_id,
        "amount": amount,
        "taken": 0 if sent.refund else amount,
        "reference": txn_id,
        "memo": None if caller.app_id is None else f"sent by app {caller.app_id}",
        "platform": body.platform,
        "email": email,
        "voucher_sealed": sealer.seal(voucher, context=txn_id) if voucher else None,
        "voucher_hash": sealer.lookup(voucher) if voucher else None,
        "metadata": None if body.metadata is None else json.dumps(body.metadata),
        "failure_reason": reason,
        "spend_buckets": json.dumps(spend.kept(counted)) if counted else None,
        "approval_expires_at": expires,
        "notify": body.notify_recipient,
    }
    crediting: sending.Crediting | None = None
    if sent.deliver:
        mailing = mail.voucher_params(env, mail_held)
        crediting = {
            "recipient_wallet_id": ledger.new_wallet_id(),
            "recipient_owner": ledger.recipient_owner(caller.merchant_id, body.platform, email),
            "mail_id": mailing["mail_id"],
            "mail_status": mailing["mail_status"],
            "mail_note": mailing["mail_note"],
        }
    fulfilling: sending.Fulfilling | None = None
    fulfilment = None
    if sent.fulfil:
        assert provider is not None
        margin = inline_seconds + work.LEASE_MARGIN_SECONDS
        fulfilling = {
            "fulfil_provider": provider,
            "fulfil_reference": work.reference(txn_id),
            "fulfil_due_at": now + timedelta(seconds=margin),
        }
        fulfilment = work.fulfilment_ref(provider, fulfilling["fulfil_reference"])
    params = sending.params(fields, low, crediting, announcing, counted, fulfilling)
    windows = tuple(c.name for c in counted)
    alerting = thresholds.alerting_of(caller.key_id, counted)
    # The reply's code, where the caller may see it; the row keeps it sealed all the same.
    shown = voucher if caller.sees_codes(upstream=False) else None
    return Prepared(outcome, params, shown, windows, alerting, fulfilment)


def mail_word(caller: Caller, body: SendRequest, held: str | None) -> str:
    """What a delivered send says of its voucher mail before its write: ``off`` (the send or
    the merchant turned it off), ``held`` (over a cap) or the status it is written with."""
    if not body.notify_recipient or caller.notify_recipients is False:
        return "off"
    return mail.HELD if held is not None else mail.status_for(caller.env)


async def _apply(
    tx: Raw,
    prepared: Prepared,
    body: SendRequest,
    public_base_url: str | None,
    answering: once.Answering | None,
) -> once.Paid:
    outcome, params, voucher, windows, alerting, fulfilment = prepared
    sent = _sent(outcome)
    assert sent.code is not None
    # The answer as it stands before the plan runs: what only the plan knows (``_filled``: a
    # wallet that was debited, a null balance here) is put in after, as on every replay.
    data = SendData(
        voucher_code=voucher,
        platform=body.platform,
        amount_cents=body.amount_cents,
        new_balance_cents=None,
        wallet_balance_cents=None,
    ).model_dump()
    if fulfilment is not None:
        data["fulfilment"] = fulfilment
    if sent.deliver:
        data["mail"] = "off"  # unless the plan writes the voucher mail
    answer = Outcome(sent.code, data, transaction_id=params["txn_id"], status=sent.status)
    if answering is not None:
        params.update(answering.params(answer))
    planned = _send_plan(outcome, windows, answering is not None)
    applied = await planned.run(tx, params)
    if applied is None:
        return await once.short(tx, params["wallet_id"], body.amount_cents, public_base_url)
    filled = {}
    for name, (step, column) in _filled(sent).items():
        row = applied.one(step)
        if row is not None:
            filled[name] = row[column]
    deliveries = applied.ids("low_deliveries", refills.STEP)
    if outcome not in (statuses.PENDING, lifecycle.FULFILLING):
        deliveries = applied.ids("event_deliveries") + deliveries
    if sent.deliver and params["mail_status"] == mail.QUEUED:
        deliveries += applied.ids("mail")  # the voucher mail: outbox work like a delivery
    due = alerting is not None and spend.alert_due(applied.all(spend.SPEND_STEP), params["txn_id"])
    done = idempotency.fill(answer, filled, deliveries=deliveries, handed_upstream=sent.fulfil)
    return once.Paid(done, alerting if due else None, kept=answering is not None)


async def send(
    db: Database,
    sealer: Sealer,
    caller: Caller,
    body: SendRequest,
    *,
    idempotency_key: str | None,
    idempotency_ttl_seconds: int,
    approval_ttl_seconds: int = DEFAULT_APPROVAL_TTL_SECONDS,
    public_base_url: str | None = None,
    now: datetime | None = None,
    inline_seconds: float = 0.0,
    mail_held: str | None = None,
) -> Outcome:
    """One plan of the send's outcome, and with an idempotency key the key (the calling API
    key's own) taken with the answer for replays as its last step (``once.answered``: on
    PostgreSQL the whole send one statement in autocommit); a refusal of the store's is kept
    under the key too, as Stripe replays it (the balance, a spend window). ``now``: the clock,
    for tests of calendar windows.

    The key's policy (scope, platform, recipient, per-send cap) is judged first, as the door
    judged revocation and expiry: a send the key may not make reads no stored reply and records
    none, as Stripe saves no result for a request refused before it runs. So a key that lost
    its scope cannot replay a voucher, and no policy refusal sits under an idempotency key."""
    now = now or utcnow()
    email = _email(body)
    budgets = await drawn(db, caller.merchant_id, caller.env, caller.policy.budgets)
    try:
        judged = judge(caller, body, now, budgets)
    except ApiError as refusal:
        return refusal.outcome()
    counted, held, ask_new = judged.counted, judged.held, judged.ask_new
    provider = None
    if caller.upstreams is not False:  # a merchant without upstreams pays no read for them
        provider = await work.provider_of(db, caller.merchant_id, caller.env, body.platform)

    async def apply(tx: Raw, answering: once.Answering | None) -> once.Paid:
        paid = True
        if ask_new:
            known = rules.paid_window(email).bucket
            paid = bool(await spend.spent(tx, caller.key_id, [known]))
        prepared = send_params(
            sealer,
            caller,
            body,
            now,
            held=held or not paid,
            counted=counted,
            approval_ttl_seconds=approval_ttl_seconds,
            provider=provider,
            inline_seconds=inline_seconds,
            mail_held=mail_held,
        )
        return await _apply(tx, prepared, body, public_base_url, answering)

    keyed = None
    if idempotency_key is not None:
        request_hash = idempotency.fingerprint(SEND, _canonical(body))
        keyed = once.Keyed(idempotency_key, request_hash, idempotency_ttl_seconds)
    return await once.answered(
        db,
        sealer,
        caller,
        apply,
        keyed=keyed,
        counted=counted,
        amount=body.amount_cents,
        now=now,
        each_statement=not ask_new,
    )


def settle_key(
    sealer: Sealer, caller: Caller, idempotency_key: str | None
) -> Callable[[Raw, Outcome], Awaitable[None]] | None:
    """What the send's inline upstream try runs when it settles the send (``fulfilling``):
    the idempotency key's stored reply becomes the settled outcome, so a replay answers what
    the first request got (``1001``, or the failure), not the ``1002 pending`` stored with the
    debit. ``None`` without a key."""
    if idempotency_key is None:
        return None
    key = idempotency_key

    async def settle(tx: Raw, outcome: Outcome) -> None:
        await idempotency.record(tx, sealer, **idempotency.scope_of(caller, key), outcome=outcome)

    return settle


async def sandbox_fund(db: Database, caller: Caller, amount: int) -> Outcome:
    """Staging's wallet topped up by ``amount``; the balance after it, read as ``balance``
    reads it, in the same transaction."""
    if caller.env != "staging":
        raise ApiError(Code.ENV_NOT_ALLOWED, "The sandbox is only for staging keys")
    now = utcnow()
    async with db.transaction() as conn:
        await ledger.credit(conn, caller.wallet_id, amount, now, grants.PAID)
        await ledger.append(
            conn,
            [ledger.Entry(caller.wallet_id, caller.env, amount, "sandbox_fund", new_id("fnd"))],
            now,
        )
        recovered = await alerts.recover(
            conn,
            wallet_id=caller.wallet_id,
            merchant_id=caller.merchant_id,
            env=caller.env,
            now=now,
        )
        after = await read_balance(conn, caller)
    return Outcome(Code.SUCCESS, after, deliveries=recovered)
