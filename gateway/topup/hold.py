"""A send held for a person's approval, as a kind of hold (``approvals.held``): its rows are the
top-ups ``pending_approval``, its decisions the lifecycle's changes (``approvals``), its
approval's delivery through an upstream given the same first try as a send's (``inline``)."""

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..approvals.held import Hold, Inbox, Spend
from ..budgets.service import held_draws
from ..callers import Caller
from ..mail import caps
from ..operations import perform
from ..store.engine import Database
from ..store.models import SENDS_CLOSING, Topup, table_of
from ..values import statuses
from ..values.code_names import Code
from ..values.languages import ENGLISH, Reading, money_in
from ..values.marking import marked
from ..values.outcome import Outcome
from ..values.platforms import name_of
from . import approvals, inline, listed
from .schemas import TXN_ID
from .service import HELD

if TYPE_CHECKING:  # a door hands the clients; the worker ending holds loads none of them
    from ..services import Services

__all__ = ["SENDS", "SendHold"]


class SendHold(Hold):
    """A send above its key's approval line (or a first send to its recipient), debited and
    waiting."""

    name = "topup"
    table = table_of(Topup)
    ids = TXN_ID
    noun = "send"
    page = "review"
    approved_words = marked("Approved: delivered.")
    decided = (statuses.DELIVERED, statuses.DENIED)
    closing = SENDS_CLOSING
    not_held = Code.TOPUP_NOT_AWAITING_APPROVAL

    def asked(self, outcome: Outcome, count: int) -> Outcome:
        # A send's reply is kept as its dump (a dict), which takes the count beside the rest.
        if not isinstance(outcome.data, dict):
            return outcome
        return replace(outcome, data={**outcome.data, "approvers_asked": count})

    def told(
        self, row: Any, key: str, ends: str, reading: Reading = ENGLISH
    ) -> tuple[str, dict[str, Any]]:
        line = marked(
            "Held for your approval (%(env)s): %(amount)s of %(platform)s credit to "
            "%(recipient)s, sent by the key %(key)s, top-up %(id)s. The hold expires %(ends)s."
        )
        text = reading.gettext(line) % {
            "env": reading.gettext(row.env),
            "amount": money_in(row.amount_cents, reading.language),
            "platform": name_of(row.platform),
            "recipient": row.recipient_email,
            "key": key,
            "id": row.id,
            "ends": ends,
        }
        mail = {
            "transaction_id": row.id,
            "recipient": row.recipient_email,
            "platform": name_of(row.platform),
        }
        return text, mail

    async def review(self, svc: "Services", caller: Caller, held_id: str) -> Outcome:
        return await perform(svc.waker, approvals.review(svc.db, svc.sealer, caller, held_id))

    async def approve(
        self, svc: "Services", caller: Caller, held_id: str, *, spend: Spend | None = None
    ) -> Outcome:
        """Delivered, the workers woken for its rows after commit; one handed to its upstream
        gets the same first try as a send (``inline``)."""
        gates = caps.Gates(svc.redis, svc.settings)
        try:
            outcome = await perform(
                svc.waker,
                approvals.approve(
                    svc.db,
                    svc.sealer,
                    caller,
                    held_id,
                    inline_seconds=svc.settings.fulfilment_inline_seconds,
                    gates=gates,
                    spend=spend,
                ),
            )
        except BaseException:
            await gates.settle(None)
            raise
        await gates.settle(outcome)
        if inline.fulfilling(outcome) and svc.upstreams is not None:
            outcome = await inline.first_try(svc, caller, outcome)
        return outcome

    async def deny(
        self, svc: "Services", caller: Caller, held_id: str, *, spend: Spend | None = None
    ) -> Outcome:
        """Refunded, the workers woken for its rows after commit."""
        denying = approvals.deny(svc.db, svc.sealer, caller, held_id, spend=spend)
        return await perform(svc.waker, denying)

    async def due(self, db: Database, now: datetime, *, limit: int = 500) -> list[str]:
        return await approvals.due(db, now, limit=limit)

    async def expire(
        self, db: Database, sealer: Sealer, held_id: str, now: datetime
    ) -> list[str] | None:
        return await approvals.expire(db, held_id, now)

    async def cancel_held(
        self, conn: AsyncConnection, sealer: Sealer, merchant_id: str, env: str, now: datetime
    ) -> tuple[int, list[str]]:
        return await approvals.cancel_held(conn, merchant_id, env, now)

    async def inbox(self, svc: "Services", caller: Caller, *, limit: int) -> Inbox:
        """Newest first, each with the budgets it draws on."""
        held, more = await listed.topups(svc.db, caller, limit=limit, status=HELD)
        drawn = await held_draws(svc.db, caller.merchant_id, caller.env, [t.id for t in held])
        context = {"rows": held, "more": more, "drawn": drawn}
        ids = tuple(t.id for t in held)
        return Inbox("topups/held/sends.html", context, empty=not held, ids=ids)


SENDS = SendHold()
