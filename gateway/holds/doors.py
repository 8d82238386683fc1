"""The one door of a one-time link's decision, whatever it decides: the mailed link's page
(``dashboard.approval_link``) and a Telegram button's press (``api.telegram``) ask here what the
link opens (``review``) and make its decision (``decide``), which is its kind of hold's own
(``registry``), made as the link's approver and spending the link in its transaction. Above
every kind, so none knows another."""

from ..approvals import links
from ..operations import perform
from ..services import Services
from ..values.outcome import Outcome
from . import registry

__all__ = ["decide", "review"]


async def review(svc: Services, token: str, *, person: str | None = None) -> Outcome:
    """What a live mailed link's page shows, read as its approver: its hold's ``review``
    (``registry.holding`` its ``transaction_id`` tells which kind it is). Changes nothing;
    refused as ``links.opened`` refuses (``person``: the signed-in person opening it)."""
    opening = links.opened(svc.db, svc.sealer, token, registry.holds(), person=person)
    found = (await perform(svc.waker, opening)).one(links.Opened)
    return await found.hold.review(svc, found.caller, found.held_id)


async def decide(
    svc: Services,
    token: str,
    approve: bool,
    *,
    telegram_user_id: int | None = None,
    person: str | None = None,
) -> Outcome:
    """The decision of link ``token`` (``telegram_user_id``: pressed in Telegram by that user,
    else posted from its mailed page, by ``person`` if signed in): approve or deny what it
    decides, as its approver (refused to anyone else signed in), spending it only if the
    decision is made."""
    holds = registry.holds()
    operation = links.ready(
        svc.db, svc.sealer, token, holds, telegram_user_id=telegram_user_id, person=person
    )
    ready = (await perform(svc.waker, operation)).one(links.Ready)
    decision = ready.hold.approve if approve else ready.hold.deny
    return await decision(svc, ready.caller, ready.held_id, spend=ready.spend)
