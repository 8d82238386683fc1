"""The one door of a one-time link's decision, whatever it decides: the mailed link's page
(``dashboard.approval_link``) and a Telegram button's press (``api.telegram``) ask here what the
link opens (``review``) and make its decision (``decide``), which is the send's or the
payment's own (``topup.doors``, ``payments.sellers.doors``), made as the link's approver and
spending the link in its transaction. Above both, so neither knows the other."""

from ..operations import perform
from ..payments.sellers import approvals as payments
from ..payments.sellers import doors as payment_doors
from ..services import Services
from ..topup import approvals as topups
from ..topup import doors as topup_doors
from ..values.outcome import Outcome
from . import held, links

__all__ = ["decide", "review"]


async def review(svc: Services, token: str) -> Outcome:
    """What a live mailed link's page shows, read as its approver: a send's
    ``topup.approvals.Review`` or a payment's ``PaymentReview``. Changes nothing; refused as
    ``links.opened`` refuses."""
    db = svc.db
    found = (await perform(svc.waker, links.opened(db, svc.sealer, token))).one(links.Opened)
    if found.kind is held.PAYMENT:
        return await perform(svc.waker, payments.review(db, found.caller, found.held_id))
    return await perform(svc.waker, topups.review(db, svc.sealer, found.caller, found.held_id))


async def decide(
    svc: Services, token: str, approve: bool, *, telegram_user_id: int | None = None
) -> Outcome:
    """The decision of link ``token`` (``telegram_user_id``: pressed in Telegram by that user,
    else posted from its mailed page): approve or deny what it decides, as its approver,
    spending it only if the decision is made."""
    operation = links.ready(svc.db, svc.sealer, token, telegram_user_id=telegram_user_id)
    ready = (await perform(svc.waker, operation)).one(links.Ready)
    decision: payment_doors.Decide
    if ready.kind is held.PAYMENT:
        decision = payment_doors.approve if approve else payment_doors.deny
    else:
        decision = topup_doors.approve if approve else topup_doors.deny
    return await decision(svc, ready.caller, ready.held_id, spend=ready.spend)
