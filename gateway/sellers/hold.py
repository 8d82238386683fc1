"""A payment to a seller held for a person's approval, as a kind of hold (``approvals.held``):
its rows are the payments ``pending_approval``, its decisions moves of the payment's table
(``approvals``). Its own work falls due when its window closes and ends it there
(``holds``), by the same ``approvals.expire`` as ``expire`` here."""

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..approvals.held import Hold, Inbox, Spend
from ..callers import Caller
from ..ledger import service as ledger
from ..mail.content import expires_text
from ..operations import perform
from ..store.engine import Database
from ..store.models import PAYMENTS_CLOSING, SellerPayment, table_of
from ..values.code_names import Code
from ..values.languages import ENGLISH, Reading, money_in
from ..values.marking import marked
from ..values.outcome import Outcome
from . import approvals, authorizing
from .schemas import PAY_ID, PaymentData
from .states import AUTHORIZED, DENIED, HELD

if TYPE_CHECKING:  # a door hands the clients; the worker ending holds loads none of them
    from ..services import Services

__all__ = ["PAYMENTS", "PaymentHold"]

_P = table_of(SellerPayment)


class PaymentHold(Hold):
    """A payment a rule of its key's policy held, debited and waiting, nothing made."""

    name = "payment"
    table = _P
    ids = PAY_ID
    noun = "payment"
    page = "payment"
    approved_words = marked("Approved: paid.")
    decided = (AUTHORIZED, DENIED)
    closing = PAYMENTS_CLOSING
    not_held = Code.PAYMENT_NOT_AWAITING_APPROVAL

    def asked(self, outcome: Outcome, count: int) -> Outcome:
        # A payment's reply is its model (``schemas.PaymentData``), which has room for it, or,
        # replayed, the dump of that model kept with its idempotency key.
        if isinstance(outcome.data, dict):
            return replace(outcome, data={**outcome.data, "approvers_asked": count})
        if not isinstance(outcome.data, PaymentData):
            return outcome
        return replace(outcome, data=outcome.data.model_copy(update={"approvers_asked": count}))

    def told(
        self, row: Any, key: str, ends: str, reading: Reading = ENGLISH
    ) -> tuple[str, dict[str, Any]]:
        # The seller's challenge may end long before the hold does (minutes, not a day): an
        # approval after it pays nothing and releases the payment, so the approver is told when.
        lapses = expires_text(row.expires_at) if row.expires_at < row.approval_expires_at else ""
        line = marked(
            "Held for your approval (%(env)s): a payment of %(amount)s to %(recipient)s "
            "(%(payee)s) for %(url)s, asked for by the key %(key)s, payment %(id)s. The hold "
            "expires %(ends)s."
        )
        text = reading.gettext(line) % {
            "env": reading.gettext(row.env),
            "amount": money_in(row.amount_cents, reading.language),
            "recipient": row.destination,
            "payee": row.payee,
            "url": row.url,
            "key": key,
            "id": row.id,
            "ends": ends,
        }
        if lapses:
            late = marked(
                "The seller's offer lapses %(lapses)s: approved after that, nothing is paid and "
                "the amount goes back to the wallet."
            )
            text += " " + reading.gettext(late) % {"lapses": lapses}
        mail = {
            "payment_id": row.id,
            "recipient": row.destination,
            "payee": row.payee,
            "url": row.url,
            "lapses": lapses,
        }
        return text, mail

    async def review(self, svc: "Services", caller: Caller, held_id: str) -> Outcome:
        return await perform(svc.waker, approvals.review(svc.db, caller, held_id))

    async def approve(
        self, svc: "Services", caller: Caller, held_id: str, *, spend: Spend | None = None
    ) -> Outcome:
        """Its credential made for the key that asked, the workers woken after commit."""
        approving = approvals.approve(
            svc.db, svc.sealer, svc.settings, caller, held_id, spend=spend
        )
        return await perform(svc.waker, approving)

    async def deny(
        self, svc: "Services", caller: Caller, held_id: str, *, spend: Spend | None = None
    ) -> Outcome:
        """Released, the workers woken after commit."""
        operation = approvals.deny(svc.db, svc.sealer, svc.settings, caller, held_id, spend=spend)
        return await perform(svc.waker, operation)

    async def due(self, db: Database, now: datetime, *, limit: int = 500) -> list[str]:
        """None: a held payment's own work falls due at its window's close (``holds``)."""
        return []

    async def expire(
        self, db: Database, sealer: Sealer, held_id: str, now: datetime
    ) -> list[str] | None:
        """Expired and released (``approvals.expire``), its work done."""
        async with db.transaction() as conn:
            row = (await conn.execute(sa.select(_P).where(_P.c.id == held_id))).first()
            if row is None or row.status != HELD:
                return None
            await ledger.frozen(conn, row.wallet_id)  # the wallet's lock first, as a decision's
            told = await approvals.expire(conn, sealer, row, now)
            if told is not None:
                await authorizing.reschedule(conn, row.id, None, now)
        return told

    async def cancel_held(
        self, conn: AsyncConnection, sealer: Sealer, merchant_id: str, env: str, now: datetime
    ) -> tuple[int, list[str]]:
        return await approvals.cancel_held(conn, sealer, merchant_id, env, now)

    async def inbox(self, svc: "Services", caller: Caller, *, limit: int) -> Inbox:
        """Oldest first (the first to expire), each with why it was held."""
        found = await perform(svc.waker, approvals.held(svc.db, caller, limit=limit))
        payments = found.many(approvals.PaymentReview)
        more = bool((found.meta or {}).get("has_more"))
        context = {"payments": payments, "more_payments": more}
        ids = tuple(r.payment.id for r in payments)
        return Inbox("topups/held/payments.html", context, empty=not payments, ids=ids)


PAYMENTS = PaymentHold()
