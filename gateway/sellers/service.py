"""An agent's wallet pays a seller's 402: the operation every door runs (REST's ``POST /payments``,
MCP's ``pay_challenge``), and the reads of payments.

One leash, the send's: the seller's challenge is read first, by the protocol that pays it
(``protocols.registry.demand_of``: pure, so a challenge malformed, expired, in another currency
or of a method no protocol pays is refused with nothing written; one that expired since the same
request paid it under its idempotency key answers what that key keeps, as any replay does); then
the key's policy judges the payment (``rules.judge``, the one evaluation of a send, a charge and
this: the scope ``payments:send``, the destination among ``allowed_payees``, the most per send,
and the windows, ``per_payee_limit`` among them, each keyed on where the money goes
(``Payer.destination``), never on the url, and the budgets it draws on); then the payment runs
once per idempotency key (``payments.once``) as one plan (``authorizing``): the conditional
debit, none while the wallet is short or its environment frozen, its windows counted in the same
write, the payment ``pending`` and its work for the worker.

Who pays (``funding``) is read before the money moves, and what making the credential needs
for it (``Payer.ready``: the operator's treasury instrument, the merchant's saved card or payer
key) is judged then: a payment that could not be made is refused with nothing debited, as
nothing after the debit fails on the request's own input.

Money first, network after: only then is the credential made (``Payer.make``, named by the
payment's id, so a second try makes the same one), outside any transaction and bounded by
``AITOPUP_PAYMENT_TIMEOUT_SECONDS``; its answer is recorded by a move (``authorizing``):
``authorized``, the credential sealed and shown in the reply, which the idempotency key keeps
(sealed) in place of the ``pending`` one; or ``failed`` and released, the refusal kept so. A
credential never exists without its debit: a process that dies between the two leaves a
``pending`` payment whose work falls due past the inline try's deadline, and the worker makes it
again or fails and releases it (``holds``).

A payment a rule of the key's policy holds (above ``approval_above_cents``, to a destination the
key never paid under ``approval_for_new_recipients``: ``known_payee``, or to a destination
``allowed_payees`` admits only by the origin the agent named and no person bound to it:
``bindings.bound``, each read in the payment's transaction) is debited and written
``pending_approval`` by the same plan, answered 202 (``PAYMENT_AWAITING_APPROVAL``) and kept so
under its idempotency key: nothing is made until a person or a key with the ``approvals`` scope
approves it (``approvals``), whose decision then takes the key's place with what it came to.
"""

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa

from keys import Sealer

from .. import idempotency
from ..budgets.service import drawn
from ..callers import Caller
from ..ledger import refills
from ..payments import once
from ..policies import payees, rules, spend, thresholds
from ..policies.payees import origin_of
from ..protocols import registry
from ..protocols.base import OWN, Demand, Payer, Wallet
from ..store.engine import Database
from ..store.models import MAX_DESTINATION, SellerPayment, table_of
from ..store.paging import newest_first, split
from ..store.raw import Raw
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, CursorMeta, Outcome
from ..values.settings import Settings
from . import authorizing, bindings, challenged, funding, treasury
from .schemas import PaymentCreate
from .states import FAILED, HELD, PENDING, held_until, make_seconds, pending_until, schedule

__all__ = [
    "OPERATION",
    "get",
    "list_page",
    "make",
    "pay",
    "replay",
    "request_hash_of",
    "scoped",
    "visible",
]

log = logging.getLogger(__name__)

OPERATION = "payments.create"
CURRENCY = "usd"  # what the wallet holds and pays in
_P = table_of(SellerPayment)
# The demand's texts a payment's row keeps, each in the column of its name.
_KEPT: dict[str, int] = {
    name: cast(sa.String, _P.c[name].type).length or 0 for name in ("protocol", "payee", "header")
}


def request_hash_of(body: PaymentCreate) -> str:
    """What a payment's idempotency key is matched on, at every door."""
    # ``buy_again`` leaves the fingerprint as it was: the key answers what it did first.
    return idempotency.fingerprint(OPERATION, body.model_dump(mode="json", exclude={"buy_again"}))


def _payable(settings: Settings, demand: Demand, now: datetime) -> None:
    """Refuse a challenge its protocol read but this wallet does not pay."""
    if demand.currency.lower() != CURRENCY:
        raise ApiError(
            Code.PAYMENT_METHOD_UNSUPPORTED,
            "The seller asks to be paid in another currency: this wallet pays USD only; "
            "nothing was paid",
            data={"currency": demand.currency},
        )
    if demand.expires_at <= now:
        raise ApiError(
            Code.PAYMENT_CHALLENGE_EXPIRED,
            "The seller's challenge has expired: ask the seller again; nothing was paid",
        )
    for name, most in _KEPT.items():  # what the row keeps of the demand, within its column
        if len(getattr(demand, name)) > most:
            raise ApiError(
                Code.PAYMENT_CREDENTIAL_MALFORMED,
                f"The seller's challenge names a {name} longer than a payment keeps: "
                "nothing was paid",
                data={"field": name, "max_length": most},
            )
    if not 1 <= demand.amount_cents <= settings.max_topup_cents:
        raise ApiError(
            Code.PAYMENT_AMOUNT_NOT_PAYABLE,
            data={"amount_cents": demand.amount_cents, "max_cents": settings.max_topup_cents},
        )


def _payer(demand: Demand) -> Payer:
    found = registry.payer(demand.protocol)
    if found is None:  # a payer that read the challenge as another's: not ours to pay
        raise ApiError(Code.PAYMENT_METHOD_UNSUPPORTED)
    return found


async def pay(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    caller: Caller,
    body: PaymentCreate,
    *,
    idempotency_key: str,
    proven: bool = False,
    request_hash: str | None = None,
) -> Outcome:
    """The payment of ``body``'s challenge under ``idempotency_key``: authorized (the
    credential in the reply), or refused (nothing written, or, when its provider failed,
    failed and released), or the reply its key keeps. ``proven``: the gateway met the
    challenge at the url's origin itself (over TLS), so the destination counts as bound
    to that origin. ``request_hash``: what the key is matched on, when the request is not
    ``body`` itself (a paying fetch's, whose challenge is the seller's answer of the moment)."""
    now = utcnow()
    request_hash = request_hash or request_hash_of(body)
    try:
        demand = registry.demand_of(settings, body.challenge, now, env=caller.env)
        _payable(settings, demand, now)
    except ApiError as refused:
        # A challenge that expired since its key paid it: the key answers what it did then.
        kept = None
        if refused.code == Code.PAYMENT_CHALLENGE_EXPIRED:
            kept = await replay(db, sealer, settings, caller, idempotency_key, request_hash, now)
        if kept is None:
            raise
        return kept
    payer = _payer(demand)
    origin = origin_of(body.url)
    destination = payer.destination(demand)
    if len(destination) > MAX_DESTINATION:  # a seller's long profile or network, judged here
        raise ApiError(
            Code.PAYMENT_CREDENTIAL_MALFORMED,
            "The seller's challenge names a destination longer than a payment keeps: "
            "nothing was paid",
            data={"field": "destination", "max_length": MAX_DESTINATION},
        )
    # Who pays, read once: the payment is written, made and released with it, and what
    # making it needs is judged now, before the money moves.
    paid_by = await db.run(
        lambda tx: funding.funded_by(tx, caller.merchant_id, caller.env, demand.protocol),
        read_only=True,
    )
    wallet = Wallet(db, sealer, settings, caller.merchant_id, caller.env, paid_by)
    try:
        await payer.ready(wallet, demand)
    except ApiError:
        kept = await replay(db, sealer, settings, caller, idempotency_key, request_hash, now)
        if kept is None:
            raise
        return kept
    payee = payees.Payee(origin, destination, tuple(demand.payee_names), proven=proven)
    payment = rules.seller(payee, demand.amount_cents)
    budgets = await drawn(db, caller.merchant_id, caller.env, caller.policy.budgets)
    judged = rules.judge(caller.policy, payment, now, budgets, caller.consent)
    counted, held, ask_new = judged.counted, judged.held, judged.ask_new
    windows = tuple(c.name for c in counted)
    window = now + timedelta(seconds=settings.approval_ttl_seconds)
    alerting = thresholds.alerting_of(caller.key_id, counted)
    written: dict[str, authorizing.Prepared] = {}

    async def apply(tx: Raw, claim: once.Claim) -> once.Paid:
        hold = held
        if ask_new:  # held unless the key has paid this destination before
            hold = not await authorizing.known_payee(tx, caller.key_id, destination)
        if judged.ask_bound and not hold:  # held unless a person bound it to the origin
            merchant, env = caller.merchant_id, caller.env
            hold = not await bindings.bound(tx, merchant, env, origin, destination)
        prepared = authorizing.payment_params(
            caller,
            demand,
            url=body.url,
            origin=origin,
            destination=destination,
            challenge=body.challenge,
            description=body.description,
            idempotency_key=idempotency_key,
            counted=counted,
            now=now,
            work_due_at=pending_until(settings, now),
            approval_expires_at=window if hold else None,
            funded_by=paid_by,
        )
        own = paid_by == OWN
        planned = authorizing.payment_plan(windows, hold, own, once.claimed(claim))
        applied = await planned.run(tx, once.bound(prepared.params, claim))
        if applied is None:
            return await once.short(
                tx, caller.wallet_id, demand.amount_cents, settings.public_base_url
            )
        if not own:  # the treasury pays the seller: out of its float, or nothing at all
            await treasury.reserve(
                tx,
                caller.env,
                demand.protocol,
                demand.amount_cents,
                now,
                merchant_id=caller.merchant_id,
                share=settings.treasury_merchant_share_percent,
            )
        payment_id = prepared.payment["txn_id"]
        await challenged.claim(tx, caller, demand, payment_id, now, again=body.buy_again)
        written[payment_id] = prepared
        # Its work's id wakes the worker's payments lane, which sleeps to its due time.
        # A wallet debited may cross its levels or its auto top-up's threshold; one not, never.
        crossed = [] if own else applied.ids("low_deliveries", refills.STEP)
        work = [*crossed, payment_id]
        if hold:
            answer = Outcome(
                Code.PAYMENT_AWAITING_APPROVAL,
                authorizing.held_of(prepared.payment),
                transaction_id=payment_id,
                status=HELD,
                deliveries=[*applied.ids("event_deliveries"), *work],
            )
        else:
            answer = Outcome(
                Code.PAYMENT_IN_PROGRESS,
                {"id": payment_id, "status": PENDING},
                transaction_id=payment_id,
                status=PENDING,
                deliveries=work,
            )
        due = alerting is not None and spend.alert_due(applied.all(spend.SPEND_STEP), payment_id)
        return once.Paid(answer, alerting if due else None)

    keyed = once.Keyed(idempotency_key, request_hash, settings.idempotency_ttl_seconds)
    first = await once.pay(
        db, sealer, caller, apply, keyed=keyed, counted=counted, amount=demand.amount_cents, now=now
    )
    mine = None if first.replayed else written.get(first.transaction_id or "")
    if mine is None or first.code != Code.PAYMENT_IN_PROGRESS:
        return first  # a refusal, held for approval, or the reply its key keeps
    answered = await make(wallet, payer, demand, mine.payment["txn_id"], request_hash)
    return Outcome(
        answered.code,
        answered.data,
        transaction_id=answered.transaction_id,
        status=answered.status,
        message=answered.message,
        timestamp=answered.timestamp,
        deliveries=[*first.deliveries, *answered.deliveries],
        replayed=answered.replayed,
    )


async def replay(
    db: Database,
    sealer: Sealer,
    settings: Settings,
    caller: Caller,
    key: str,
    request_hash: str,
    now: datetime,
) -> Outcome | None:
    """The reply ``key`` keeps for this request, if any, without claiming it."""

    async def peek(tx: Raw) -> Outcome | None:
        scope = idempotency.scope_of(caller, key)
        ttl = settings.idempotency_ttl_seconds
        return await idempotency.peek(
            tx, sealer, **scope, request_hash=request_hash, now=now, ttl_seconds=ttl
        )

    return await db.run(peek, read_only=True)


async def make(
    wallet: Wallet, payer: Payer, demand: Demand, payment_id: str, request_hash: str
) -> Outcome:
    """The credential of debited payment ``payment_id`` (``pending``: paid, or approved) made,
    and the answer recorded: the reply that shows it, or the refusal once it failed and was
    released."""
    db, sealer, settings = wallet.db, wallet.sealer, wallet.settings
    try:
        async with asyncio.timeout(make_seconds(settings)):
            made = await payer.make(wallet, demand, payment_id=payment_id)
    except Exception as exc:
        if not isinstance(exc, (ApiError, TimeoutError)):
            log.exception("a payer's make failed", extra={"payment_id": payment_id})
        refused = authorizing.refusal_of(exc)
        now = utcnow()
        async with db.transaction() as conn:
            row = await authorizing.read(conn, payment_id)
            failed = await authorizing.fail(conn, sealer, row, refused, now)
            if failed is not None:
                await authorizing.reschedule(conn, payment_id, None, now)
                return failed
        return await _kept(wallet, payment_id, request_hash)
    now = utcnow()
    async with db.transaction() as conn:
        row = await authorizing.read(conn, payment_id)
        done = await authorizing.authorize(conn, sealer, row, made, now)
        if done is not None:
            await authorizing.reschedule(conn, payment_id, schedule(0, now, held_until(row)), now)
            return done
    kept = await _kept(wallet, payment_id, request_hash)
    if kept.status == FAILED:
        # Failed by the worker meanwhile, and released: the credential made here must not
        # outlive its money.
        try:
            async with asyncio.timeout(make_seconds(settings)):
                await payer.revoke(wallet, demand, made)
        except Exception:
            log.warning("a credential of a failed payment not revoked", exc_info=True)
    return kept


async def _kept(wallet: Wallet, payment_id: str, request_hash: str) -> Outcome:
    """What the payment's idempotency key answers now: another try (the worker's) moved the
    payment first and recorded its answer there."""
    db = wallet.db
    async with db.read() as conn:
        row = (await conn.execute(sa.select(_P).where(_P.c.id == payment_id))).one()

    async def peek(tx: Raw) -> Outcome | None:
        return await idempotency.peek(
            tx,
            wallet.sealer,
            merchant_id=row.merchant_id,
            api_key_id=row.api_key_id,
            env=row.env,
            key=row.idempotency_key,
            request_hash=request_hash,
            now=utcnow(),
            ttl_seconds=wallet.settings.idempotency_ttl_seconds,
        )

    found = await db.run(peek, read_only=True)
    return found or Outcome(
        Code.PAYMENT_IN_PROGRESS,
        {"id": payment_id, "status": row.status},
        transaction_id=payment_id,
        status=row.status,
    )


# --- Reads.


def visible(caller: Caller) -> Any:
    """A merchant's key sees its environment's payments; an app's token, those it made."""
    mine = sa.and_(_P.c.merchant_id == caller.merchant_id, _P.c.env == caller.env)
    return mine if caller.app_id is None else sa.and_(mine, _P.c.api_key_id == caller.key_id)


def scoped(caller: Caller) -> None:
    """Every read of payments takes the scope that makes them."""
    if not caller.policy.allows("payments:send"):
        raise ApiError(Code.KEY_SCOPE_MISSING, data={"scope": "payments:send"})


async def get(db: Database, caller: Caller, payment_id: str) -> Outcome:
    """One payment, without its credential."""
    scoped(caller)
    async with db.read() as conn:
        row = (
            await conn.execute(sa.select(_P).where(_P.c.id == payment_id, visible(caller)))
        ).first()
    if row is None:
        raise ApiError(Code.PAYMENT_NOT_FOUND)
    data = authorizing.data_of(row)
    return Outcome(Code.SUCCESS, data, transaction_id=data.id, status=data.status)


async def list_page(
    db: Database, caller: Caller, *, limit: int, cursor: str | None, status: str | None = None
) -> Outcome:
    """Payments newest first, after ``cursor``, without their credentials; ``status``: those
    in that state only."""
    scoped(caller)
    shown = sa.select(_P).where(visible(caller))
    if status is not None:
        shown = shown.where(_P.c.status == status)
    stmt = newest_first(shown, _P.c.id, limit=limit, cursor=cursor)
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).all()
    page, more = split(rows, limit)
    items = [authorizing.data_of(row) for row in page]
    meta = CursorMeta.of(items, limit, more).model_dump()
    return Outcome(Code.SUCCESS, items, meta=meta)
