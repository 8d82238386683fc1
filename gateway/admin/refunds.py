"""An operator's refund of a paid order, through the provider that took the money.

One transaction holds the whole refund, and the provider is called inside it, before commit:

1. one conditional UPDATE raises the order's ``refunded_cents`` by the amount, only while it is
   ``completed`` and the sum stays at most ``amount_cents``. It holds the order's row (SQLite:
   the one writer) until commit, so concurrent refunds of one order take turns, and each sees
   what the ones before it refunded: together they never pass what was paid. A channel that
   refunds only all that is left (``refunds_in_full``: Creem) is refused a part here, judged on
   the held row (``REFUND_ONLY_IN_FULL``), before anything is debited or asked;
2. the wallet is debited the credits this part had bought (``debit_merchant``: its ledger entry,
   of kind ``refund`` with the order as reference, and ``wallet.debited``), conditionally: a
   wallet holding less refuses (``REFUND_BALANCE_SHORT``) and nothing was asked of the provider;
3. the provider is asked for the refund, then the audit row is written, then commit.

Why before commit and not a pending row called after: a refund whose provider refuses or
times out then leaves nothing behind (the transaction rolls back), and a refund the provider
made but whose commit failed is the only loss case, which idempotency closes: the provider's
key is the order, what was refunded before and the amount (``OrderRef.refunded_minor``), all
unchanged by the rollback, so asking again (the operator's retry of the same amount after
``PAYMENT_PROVIDER_TIMEOUT``, or Stripe's package retrying) answers the refund already made and
records it once. The provider is never asked for money the wallet did not give up first, and
never twice for one record. The cost is a row held for one provider call (Creem's: up to three
exchanges), each bounded by ``AITOPUP_PAYMENT_TIMEOUT_SECONDS``; refunds are rare, operator-made
acts.

Creem takes no idempotency key, so its transaction's state stands in for one: its provider looks
the transaction up before asking, and takes one Creem already refunded in full as the refund
made, recorded once (``CreemProvider.refund``); and Creem refunds only all that is left of a
transaction, so a second ask can never give money back twice. A channel that cannot refund
idempotently (``can_refund`` false) is refused (``REFUND_NOT_SUPPORTED``): MyFatoorah's
``MakeRefund`` takes no idempotency key (its documentation leaves duplicate partial refunds to
the caller), so it would need a pending refund row called after commit and reconciled by the
runner, and is not offered here.

The debit is the credited share, rounded on the running total (``_share``): a refund in parts
takes back exactly ``credit_cents`` once the whole payment is refunded, never more.
"""

from dataclasses import replace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from ..billing import channels, providers
from ..billing.funding import debit_merchant
from ..billing.reconcile import order_ref
from ..billing.schemas import RefundData, RefundRequest
from ..ledger import service as ledger
from ..store.db import Database
from ..store.models import FundingOrder, table_of
from ..values.clock import utcnow
from ..values.codes import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from .audit import Call, record

__all__ = ["KIND", "refund_order"]

_O = table_of(FundingOrder)

# The ledger entry's kind, and ``wallet.debited``'s source.
KIND = "refund"
REFUNDABLE_KINDS = ("checkout", "invoice")


def _share(total: int, paid: int, part: int) -> int:
    """Of ``total``, what ``part`` of ``paid`` is worth, rounded down on the running total."""
    return total * part // paid


async def _order(db: Database, order_id: str) -> Any:
    async with db.read() as conn:
        order = (await conn.execute(select(_O).where(_O.c.id == order_id))).first()
    if order is None:
        raise ApiError(Code.ORDER_NOT_FOUND)
    return order


def _refundable(order: Any) -> providers.Provider[Any]:
    """The provider that refunds ``order``, or why there is none."""
    if order.kind not in REFUNDABLE_KINDS or order.status != "completed":
        raise ApiError(Code.ORDER_NOT_REFUNDABLE, data={"status": order.status})
    provider = providers.for_order(order)
    if provider is None or not provider.can_refund:
        raise ApiError(Code.REFUND_NOT_SUPPORTED, data={"channel": order.channel or order.provider})
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


async def refund_order(
    db: Database, settings: Settings, call: Call, order_id: str, body: RefundRequest
) -> Outcome:
    """Refund ``body.amount_cents`` of a paid order (all that is left when unset) through its
    provider, debiting the wallet the credits it had bought, in one transaction."""
    order = await _order(db, order_id)
    provider = _refundable(order)
    credentials = await channels.credentials_for(db, settings, provider, order.env)
    if credentials is None:
        raise ApiError(Code.PAYMENT_CHANNEL_NOT_CONFIGURED, data={"channel": provider.name})
    now = utcnow()
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
        charged = order_ref(order).amount_minor
        ref = replace(order_ref(order), refunded_minor=_share(charged, paid, before))
        give = _share(charged, paid, after) - ref.refunded_minor
        async with channels.context(settings, order.env, credentials, now=now) as ctx:
            try:
                made = await provider.refund(ctx, ref, give)
            except providers.NotSupported:
                raise ApiError(Code.REFUND_NOT_SUPPORTED, data={"channel": provider.name}) from None
        data = RefundData(
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
            refund_id=made.refund_id[:255],
            provider_status=made.provider_status[:40],
        )
        await record(
            conn,
            call,
            Code.SUCCESS,
            now,
            target_id=order.id,
            details={**data.model_dump(), "reason": body.reason},
        )
    return Outcome(Code.SUCCESS, data, deliveries=deliveries)
