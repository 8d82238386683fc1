"""An operator's refund of a paid order, through the provider that took the money: money first,
network after (DESIGN.md "Fulfilment"). No transaction is held across the provider's call.

1. One transaction, no network: one conditional UPDATE raises the order's ``refunded_cents`` by
   the amount, only while it is ``completed`` and the sum stays at most ``amount_cents``. It
   holds the order's row (SQLite: the one writer) until commit, so concurrent refunds of one
   order take turns, and each sees what the ones before it refunded: together they never pass
   what was paid. A channel that refunds only all that is left (``refunds_in_full``: Creem) is
   refused a part here, judged on the held row (``REFUND_ONLY_IN_FULL``). The wallet is debited
   the credits this part had bought (``debit_merchant``: its ledger entry, of kind ``refund``
   with the order as reference, and ``wallet.debited``), conditionally: a wallet holding less
   refuses (``REFUND_BALANCE_SHORT``), nothing written. The refund's row (``order_refunds``,
   ``pending``, its idempotency key ``refund:<its id>``) and the audit row are written with it.
2. After commit, the provider is asked once (``attempt``), bounded by ``call_seconds``, naming
   the row's key; the outcome is recorded by one transition of the row, in one transaction:
   the refund made: ``succeeded`` with the provider's id, answered as before (``SUCCESS``);
   refused (the provider answered no): ``failed``, and the debit reversed (``_reverse``: the
   order's ``refunded_cents`` lowered again, the credits given back by a ledger entry of kind
   ``refund_reversal`` and ``wallet.credited``), answered with the refusal
   (``PAYMENT_PROVIDER_ERROR``...); not known (no answer in time, none read, the provider's own
   failure): still ``pending``, due again on ``DELAYS``, answered ``REFUND_PENDING`` (202).
3. The runner's ``refund`` kind (``worker.refunds``) leases a pending row once it is due and
   tries again (``attempt``) with the same key, until the provider answers; past ``DELAYS`` it
   is failed and its debit reversed, as a refusal is.

Until the row's inline try is over its ``next_attempt_at`` is past the try's bound (``lease``),
so the runner does not take it meanwhile; a try is recorded only while its lease stamp holds
(``store.queue.settle``), so of two tries that raced exactly one records, and a refund is
reversed at most once. The provider is never asked for money the wallet did not give up first.

Idempotency: Stripe is asked under the row's key, so a retry answers the refund already made,
never a second (a key of the order and amounts would match a later refund of the same amounts
once an earlier one was reversed). Creem takes no key, so its transaction's state stands in for
one: its provider looks the transaction up before asking, and takes one Creem already refunded
in full as the refund made (``CreemProvider.refund``); and Creem refunds only all that is left
of a transaction, so a second ask can never give money back twice. The sandbox moves no money.
A channel that cannot refund idempotently (``can_refund`` false) is refused
(``REFUND_NOT_SUPPORTED``): MyFatoorah's ``MakeRefund`` takes no idempotency key (its
documentation leaves duplicate partial refunds to the caller), so a retry could pay twice; and
an agent's x402 payment settled on chain, where nothing the gateway holds can pull it back
(``protocols.orders.refused_refund`` says so, and how it is given back).

The debit is the credited share, rounded on the running total (``_share``): a refund in parts
takes back exactly ``credit_cents`` once the whole payment is refunded, never more.
"""

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..billing.channels import offering, registry
from ..billing.schemas import RefundData, RefundRequest
from ..billing.settling.reconcile import order_ref
from ..billing.wallet.funding import credit_merchant, debit_merchant
from ..ledger import service as ledger
from ..protocols.orders import AGENT, refused_refund
from ..store.engine import Database
from ..store.models import FundingOrder, OrderRefund, table_of
from ..store.queue import Queue, next_try, settle
from ..values.clock import new_id, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from .audit import Call, record

__all__ = [
    "DELAYS",
    "KIND",
    "QUEUE",
    "REVERSAL",
    "attempt",
    "call_seconds",
    "lease_seconds",
    "refund_order",
]

_O = table_of(FundingOrder)
_R = table_of(OrderRefund)

# The ledger entry's kind, and ``wallet.debited``'s source; and the reversing entry's, and
# ``wallet.credited``'s source, when the provider refused or never answered.
KIND = "refund"
REVERSAL = "refund_reversal"
REFUNDABLE_KINDS = ("checkout", "invoice", AGENT)

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
QUEUE = Queue(_R, due=PENDING, done=SUCCEEDED, failed=FAILED)
# Before each try: the first is the operator's own, at once; then the worker's, while the
# provider's answer is not known. Past the last, the refund is failed and its debit reversed.
DELAYS = (0.0, 30.0, 120.0, 600.0, 3600.0, 6 * 3600.0)
# Exchanges in one try at most (Creem's: the checkout, the transaction, the refund).
EXCHANGES = 3
# Past a try's own bound: a try still running is not taken by another.
LEASE_MARGIN_SECONDS = 5.0


def call_seconds(settings: Settings) -> float:
    """The longest one try's call of the provider takes: its exchanges, each bounded by
    ``AITOPUP_PAYMENT_TIMEOUT_SECONDS``."""
    return EXCHANGES * settings.payment_timeout_seconds


def lease_seconds(settings: Settings) -> float:
    """How long a try holds its row: the inline try's, and each of the worker's leases."""
    return call_seconds(settings) + LEASE_MARGIN_SECONDS


def _share(total: int, paid: int, part: int) -> int:
    """Of ``total``, what ``part`` of ``paid`` is worth, rounded down on the running total."""
    return total * part // paid


async def _order(db: Database, order_id: str) -> Any:
    async with db.read() as conn:
        order = (await conn.execute(select(_O).where(_O.c.id == order_id))).first()
    if order is None:
        raise ApiError(Code.ORDER_NOT_FOUND)
    return order


def _refundable(order: Any) -> registry.Provider[Any]:
    """The provider that refunds ``order``, or why there is none."""
    if order.kind not in REFUNDABLE_KINDS or order.status != "completed":
        raise ApiError(Code.ORDER_NOT_REFUNDABLE, data={"status": order.status})
    provider = registry.for_order(order)
    if provider is None or not provider.can_refund:
        raise refused_refund(order) or ApiError(
            Code.REFUND_NOT_SUPPORTED, data={"channel": order.channel or order.provider}
        )
    return provider


async def _take(
    conn: AsyncConnection, order_id: str, amount: int | None, *, whole: bool
) -> tuple[Any, int]:
    """Raise the order's ``refunded_cents`` by ``amount`` (unset: all that is left; ``whole``:
    nothing but all that is left), its row held to commit: the order as it was before, and the
    amount; or why not."""
    order = (await conn.execute(select(_O).where(_O.c.id == order_id).with_for_update())).one()
    if order.status != "completed":
        raise ApiError(Code.ORDER_NOT_REFUNDABLE, data={"status": order.status})
    left = order.amount_cents - order.refunded_cents
    want = left if amount is None else amount
    if whole and 0 < want < left:
        raise ApiError(Code.REFUND_ONLY_IN_FULL, data={"refundable_cents": left})
    # Judged again on the row, as every settlement of an order is.
    done = (
        await conn.execute(
            update(_O)
            .where(
                _O.c.id == order_id,
                _O.c.status == "completed",
                _O.c.refunded_cents + want <= _O.c.amount_cents,
            )
            .values(refunded_cents=_O.c.refunded_cents + want)
        )
    ).rowcount
    if want <= 0 or not done:
        raise ApiError(Code.REFUND_EXCEEDS_PAID, data={"refundable_cents": max(left, 0)})
    return order, want


def _ask(order: Any, refund: Any) -> tuple[registry.OrderRef, int]:
    """What the provider is told of ``refund`` of ``order`` and asked to give back, in the
    charge's currency: the same for every try, fixed by the row."""
    paid, before = order.amount_cents, refund.before_cents
    charged = order_ref(order).amount_minor
    ref = replace(
        order_ref(order),
        refunded_minor=_share(charged, paid, before),
        refund_key=refund.idempotency_key,
    )
    give = _share(charged, paid, before + refund.amount_cents) - ref.refunded_minor
    return ref, give


def _not_known(exc: ApiError) -> bool:
    """Whether a provider's failure leaves the refund's fate unknown (tried again) rather than
    refused (reversed): no answer in time, none read, or the provider's own failure or
    throttle."""
    if exc.code == Code.PAYMENT_PROVIDER_TIMEOUT:
        return True
    if exc.code != Code.PAYMENT_PROVIDER_ERROR:
        return False
    if not isinstance(exc.data, dict):
        return True  # no answer read (a lost connection, an answer not understood)
    status = exc.data.get("provider_status")
    return isinstance(status, int) and (status >= 500 or status == 429)


async def _call(
    db: Database, settings: Settings, refund: Any
) -> registry.Refunded | ApiError | str:
    """The provider asked for ``refund``, once: the refund made, the refusal, or why its fate is
    not known."""
    async with db.read() as conn:
        order = (await conn.execute(select(_O).where(_O.c.id == refund.order_id))).one()
    provider = registry.for_order(order)
    if provider is None or not provider.can_refund:
        return ApiError(
            Code.REFUND_NOT_SUPPORTED, data={"channel": order.channel or order.provider}
        )
    credentials = await offering.credentials_for(db, settings, provider, order.env)
    if credentials is None and order.kind == AGENT and order.env == "staging":
        credentials = registry.NoCredentials()  # staging's agent payments took no money
    if credentials is None:
        return "payment channel not configured"
    ref, give = _ask(order, refund)
    try:
        async with asyncio.timeout(call_seconds(settings)):
            async with offering.context(settings, order.env, credentials) as ctx:
                try:
                    return await provider.refund(ctx, ref, give)
                except registry.NotSupported:
                    return ApiError(Code.REFUND_NOT_SUPPORTED, data={"channel": provider.name})
    except TimeoutError:
        return "no answer in time"
    except ApiError as exc:
        return f"provider: {int(exc.code)} {exc.data}"[:300] if _not_known(exc) else exc


async def _reverse(conn: AsyncConnection, refund: Any, now: datetime) -> list[str]:
    """A refund the provider did not make given back, in the transaction that failed it: the
    order's ``refunded_cents`` lowered by it, the wallet credited the debit again."""
    await conn.execute(
        update(_O)
        .where(_O.c.id == refund.order_id)
        .values(refunded_cents=_O.c.refunded_cents - refund.amount_cents)
    )
    if refund.debit_cents <= 0:
        return []
    moved = await credit_merchant(
        conn,
        env=refund.env,
        merchant_id=refund.merchant_id,
        amount=refund.debit_cents,
        source=REVERSAL,
        reference=refund.order_id,
        memo=f"Refund of order {refund.order_id} not made",
        now=now,
        grant=None,  # money that never left: back to the grants its debit was drawn from
    )
    return moved.delivery_ids


async def attempt(
    db: Database,
    settings: Settings,
    refund: Any,
    sent: Callable[[], None] | None = None,
    *,
    now: Callable[[], datetime] = utcnow,
) -> Outcome:
    """One try of a pending ``refund`` (its row as leased, or as the operator's call wrote it),
    recorded by one transition, and answered with the row's ``status`` after it: ``succeeded``
    (``SUCCESS``, ``data`` the provider's ``Refunded``); ``failed`` and reversed, answered with
    the refusal (or ``PAYMENT_PROVIDER_TIMEOUT``, not known past ``DELAYS``), its deliveries to
    wake; or ``pending`` (``REFUND_PENDING``), due again, or another try's. ``sent``: called once
    the provider's part is over. ``now``: the time the record and the schedule read (the
    worker's clock)."""
    answer = await _call(db, settings, refund)
    if sent is not None:
        sent()
    finished = now()
    number = int(refund.attempts) + 1
    tried = Outcome(Code.REFUND_PENDING, status=PENDING)
    async with db.transaction() as conn:
        if isinstance(answer, registry.Refunded):
            done = {
                "provider_refund_id": answer.refund_id[:255],
                "provider_status": answer.provider_status[:40],
            }
            if await settle(conn, QUEUE, refund, error=None, at=None, now=finished, done=done):
                tried = Outcome(Code.SUCCESS, answer, status=SUCCEEDED)
            return tried
        refused = answer if isinstance(answer, ApiError) else None
        if refused is not None:
            error, at = f"refused: {int(refused.code)} {refused.data}"[:300], None
        else:
            error, at = str(answer), next_try(DELAYS, number, finished)
        if not await settle(conn, QUEUE, refund, error=error, at=at, now=finished):
            return tried
        if at is not None:
            return tried
        failed = (refused or ApiError(Code.PAYMENT_PROVIDER_TIMEOUT)).outcome()
        return replace(failed, status=FAILED, deliveries=await _reverse(conn, refund, finished))


async def refund_order(
    db: Database, settings: Settings, call: Call, order_id: str, body: RefundRequest
) -> Outcome:
    """Refund ``body.amount_cents`` of a paid order (all that is left when unset) through its
    provider: the refund written and the wallet debited in one transaction, then the provider
    asked, its answer recorded in another (``attempt``)."""
    order = await _order(db, order_id)
    provider = _refundable(order)
    credentials = await offering.credentials_for(db, settings, provider, order.env)
    if credentials is None:
        raise ApiError(Code.PAYMENT_CHANNEL_NOT_CONFIGURED, data={"channel": provider.name})
    now = utcnow()
    refund_id = new_id("rfd")
    async with db.transaction() as conn:
        order, amount = await _take(
            conn, order_id, body.amount_cents, whole=provider.refunds_in_full
        )
        before, paid = order.refunded_cents, order.amount_cents
        after = before + amount
        debit = _share(order.credit_cents, paid, after) - _share(order.credit_cents, paid, before)
        deliveries: list[str] = []
        if debit > 0:
            moved = await debit_merchant(
                conn,
                env=order.env,
                merchant_id=order.merchant_id,
                amount=debit,
                source=KIND,
                reference=order.id,
                memo=f"Refund of order {order.id}",
                now=now,
            )
            if moved is None:
                raise ApiError(Code.REFUND_BALANCE_SHORT, data={"debit_cents": debit})
            balance, deliveries = moved.balance_cents, moved.delivery_ids
        else:
            found = await ledger.balance(conn, order.env, ledger.merchant_owner(order.merchant_id))
            balance = found.balance_cents if found is not None else 0
        row = {
            "id": refund_id,
            "order_id": order.id,
            "merchant_id": order.merchant_id,
            "env": order.env,
            "amount_cents": amount,
            "before_cents": before,
            "debit_cents": debit,
            "status": PENDING,
            "idempotency_key": f"refund:{refund_id}",
            "attempts": 0,
            "generation": 0,
            # Held by the inline try below: the runner takes it only once that try is over.
            "next_attempt_at": now + timedelta(seconds=lease_seconds(settings)),
            "created_at": now,
            "updated_at": now,
        }
        await conn.execute(insert(_R).values(row))
        data = RefundData(
            id=refund_id,
            status=PENDING,
            order_id=order.id,
            env=order.env,
            merchant_id=order.merchant_id,
            channel=order.channel,
            amount_cents=amount,
            currency=order.currency,
            refunded_cents=after,
            refundable_cents=paid - after,
            debit_cents=debit,
            balance_cents=balance,
        )
        await record(
            conn,
            call,
            Code.REFUND_PENDING,
            now,
            target_id=order.id,
            details={**data.model_dump(), "reason": body.reason},
        )
    # Money first, network after: no transaction is held while the provider is asked.
    tried = await attempt(db, settings, SimpleNamespace(**row))
    deliveries += tried.deliveries
    if tried.status == FAILED:
        raise ApiError(tried.code, tried.message, data=tried.data)
    if tried.status == PENDING:
        return Outcome(Code.REFUND_PENDING, data, deliveries=deliveries)
    made = {
        "status": SUCCEEDED,
        "refund_id": tried.data.refund_id[:255],
        "provider_status": tried.data.provider_status[:40],
    }
    return Outcome(Code.SUCCESS, data.model_copy(update=made), deliveries=deliveries)
