"""The kill switch: one write freezes a merchant's environment, one undoes it.

The freeze is ``frozen_at`` on the merchant's wallet of that environment, the row every payment
already debits. So it is honoured by every gateway process at once with nothing to tell them:
each authentication reads the flag with the key (``callers``: every key, consent and app token
of the environment is refused from its next request), and each payment's debit is conditional
on it (``ledger.conditional_debit``). A send that authenticated just before the freeze is still
ordered against it by the row: its debit either committed before the freeze's write (it was
admitted before the freeze) or runs after it and finds no row (refused, nothing written). The
freeze changes nothing else (no key, consent or token is touched), so unfreezing, which clears
the flag, restores exactly what was there.

Only a hand that could loosen every limit the freeze protects lifts it (``hands``: an owner, the
operator, or a key of the merchant's own free of every limit), judged in the unfreeze's own
transaction.

Payments to sellers already authorized are ended at their provider where it can end them, and
released (``sellers.holds``); a credential that cannot be ended before its expiry (an
x402 authorization) stays held until then, as a seller may still take it. Sends and payments to
sellers held for approval are kept held (no decision approves one while
frozen: ``topup.approvals``, ``sellers.approvals``) or cancelled, each refunded once, as
the person chooses. Each change of the flag writes an
operational event (``environment.frozen``, ``environment.unfrozen``) and a mail to each owner,
in its transaction; a call that changes nothing (frozen twice) writes neither. Neither counts in
the merchant's bound of operational events (``webhooks.health``), which protects receivers from
a failing merchant's noise: the switch protects the merchant, and a change of it is always told.
Nothing else bounds them, and nothing needs to: each change from frozen to running takes a hand
free of every limit, so a leashed key can cause at most one freeze's event and mails for each
time a person lifts it.

A freeze of one budget (``budget_id``) is the budgets' own: ``_budget`` is the one place it is
dispatched.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from .. import outbox
from ..budgets import service as budgets
from ..holds import registry
from ..ledger import service as ledger
from ..mail import alerts, rows
from ..sellers import authorizing as authorized_payments
from ..store.engine import Database
from ..store.models import Topup, Wallet, table_of
from ..store.raw import raw
from ..values.clock import rfc3339, rfc3339_or_none, utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from ..values.resources import API_PATH
from . import hands
from .schemas import FreezeData, FreezeRequest

__all__ = ["FREEZE_PATH", "Freezer", "freeze", "state", "unfreeze"]

FREEZE_PATH = API_PATH + "/freeze"

_W = table_of(Wallet)
_T = table_of(Topup)


@dataclass(frozen=True, slots=True)
class Freezer:
    """Who pulls the switch, and on what: a merchant's environment, and in words who (a key's
    display prefix, a member's address, the operator) for the event and the mail."""

    merchant_id: str
    env: str
    by: str


def _owned(who: Freezer) -> Any:
    return (_W.c.env == who.env) & (_W.c.owner == ledger.merchant_owner(who.merchant_id))


async def _frozen_at(conn: AsyncConnection, who: Freezer) -> datetime | None:
    found = await conn.execute(select(_W.c.frozen_at).where(_owned(who)))
    value: datetime | None = found.scalar()
    return value


def _data(who: Freezer, frozen_at: datetime | None, cancelled: int = 0) -> FreezeData:
    return FreezeData(
        env=who.env,
        frozen=frozen_at is not None,
        frozen_at=rfc3339_or_none(frozen_at),
        held_cancelled=cancelled,
    )


async def state(db: Database, who: Freezer) -> Outcome:
    """Whether ``who``'s environment is frozen, and since when."""
    async with db.read() as conn:
        return Outcome(Code.SUCCESS, _data(who, await _frozen_at(conn, who)))


async def _budget(db: Database, who: Freezer, budget_id: str) -> Outcome:
    """Freezing one budget: the budgets' own freeze (``budgets.service.freeze_budget``), which
    every payment drawing on it is judged against; undone by ``DELETE /budgets/{id}/freeze``."""
    try:
        frozen = await budgets.freeze_budget(db, who.merchant_id, who.env, budget_id, True)
    except ApiError as refused:
        if refused.code is not Code.BUDGET_NOT_FOUND:
            raise
        raise ApiError(Code.FREEZE_BUDGET_NOT_FOUND, data={"budget_id": budget_id}) from None
    async with db.read() as conn:
        env = _data(who, await _frozen_at(conn, who))
    return Outcome(Code.SUCCESS, env.model_copy(update={"budget": frozen}))


async def freeze(
    db: Database,
    sealer: Sealer,
    who: Freezer,
    body: FreezeRequest,
    *,
    now: datetime | None = None,
) -> Outcome:
    """Freeze ``who``'s environment (or ``body.budget_id``'s budget); held sends and payments
    kept or cancelled (``body.held``). Freezing a frozen environment changes nothing but may still
    cancel what is held."""
    if body.budget_id is not None:
        return await _budget(db, who, body.budget_id)
    now = now or utcnow()
    async with db.transaction() as conn:
        began = (
            await conn.execute(
                update(_W)
                .where(_owned(who), _W.c.frozen_at.is_(None))
                .values(frozen_at=now)
                .returning(_W.c.id)
            )
        ).first()
        frozen_at = now if began is not None else await _frozen_at(conn, who)
        if frozen_at is None:  # every merchant has its wallets from its creation
            raise ApiError(Code.MERCHANT_NOT_FOUND)
        work: list[str] = []
        cancelled = 0
        if body.held == "cancel":
            for hold in registry.holds():  # what every kind holds, ended once
                ended, told = await hold.cancel_held(conn, sealer, who.merchant_id, who.env, now)
                cancelled, work = cancelled + ended, work + told
        if began is not None:
            await authorized_payments.end_soon(conn, who.merchant_id, who.env, now)
            values = {
                "frozen_at": rfc3339(now),
                "by": who.by,
                "held": body.held,
                "held_cancelled": cancelled,
            }
            work += await _tell(conn, sealer, who, "environment.frozen", values, now)
    return Outcome(Code.SUCCESS, _data(who, frozen_at, cancelled), deliveries=work)


async def unfreeze(
    db: Database,
    sealer: Sealer,
    who: Freezer,
    hand: hands.Hand,
    *,
    now: datetime | None = None,
) -> Outcome:
    """Clear the freeze of ``who``'s environment, if ``hand`` may (``hands.lift``): every
    credential works again as before. Unfreezing what is not frozen changes nothing."""
    now = now or utcnow()
    work: list[str] = []
    async with db.transaction() as conn:
        await hands.lift(conn, who.merchant_id, who.env, hand)
        since = await _frozen_at(conn, who)
        ended = (
            await conn.execute(
                update(_W)
                .where(_owned(who), _W.c.frozen_at.is_not(None))
                .values(frozen_at=None)
                .returning(_W.c.id)
            )
        ).first()
        if ended is not None:
            values = {
                "frozen_at": rfc3339_or_none(since) or rfc3339(now),
                "unfrozen_at": rfc3339(now),
                "by": who.by,
            }
            work = await _tell(conn, sealer, who, "environment.unfrozen", values, now)
    return Outcome(Code.SUCCESS, _data(who, None), deliveries=work)


async def _tell(
    conn: AsyncConnection,
    sealer: Sealer,
    who: Freezer,
    type_: str,
    values: dict[str, Any],
    now: datetime,
) -> list[str]:
    """The operational event of a change of the flag, and a mail to each owner: always, outside
    the merchant's bound of operational events."""
    tx = await raw(conn)
    work = await outbox.emit(
        conn, env=who.env, merchant_id=who.merchant_id, type_=type_, data=values, now=now
    )
    mail = {
        "env": who.env,
        "frozen": type_ == "environment.frozen",
        "at": values.get("unfrozen_at", values["frozen_at"]),
        "by": who.by,
        "held": values.get("held", "keep"),
        "held_cancelled": values.get("held_cancelled", 0),
    }
    kind = rows.ENVIRONMENT_FREEZE
    work += await alerts.mail_each_owner(tx, sealer, who.merchant_id, kind, mail, now)
    return work
