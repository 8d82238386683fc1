"""The send as every door (REST, MCP) runs it: the settings it takes, the workers woken for its rows
after commit, its upstream's first try (money first, network after: once the send committed), the
caps on voucher mails (``mail.caps``: counted before, given back when no mail was written), a held
send's approvers asked by mail and Telegram (``approvals.links``), and its count in the metrics. One
place, so the doors cannot drift apart."""

import logging
from collections.abc import Awaitable, Callable

from ..approvals import links
from ..approvals.held import Spend
from ..callers import Caller
from ..mail import caps
from ..operations import perform
from ..ops import metrics
from ..services import Services
from ..values.code_names import Code
from ..values.outcome import Outcome
from . import inline, service
from .hold import SENDS
from .schemas import SendRequest
from .service import HELD

__all__ = ["Decide", "approve", "deny", "send"]

log = logging.getLogger("aitopup.topup")

# ``approve`` or ``deny``: (svc, caller, txn id, spend=).
Decide = Callable[..., Awaitable[Outcome]]


async def send(
    svc: Services, caller: Caller, body: SendRequest, idempotency_key: str | None
) -> Outcome:
    gate = caps.OFF
    if body.notify_recipient and caller.notify_recipients is not False:
        email = str(body.recipient_email).lower()
        gate = await caps.take(svc.redis, svc.settings, caller.merchant_id, caller.env, email)
    outcome = await perform(
        svc.waker,
        service.send(
            svc.db,
            svc.sealer,
            caller,
            body,
            idempotency_key=idempotency_key,
            idempotency_ttl_seconds=svc.settings.idempotency_ttl_seconds,
            approval_ttl_seconds=svc.settings.approval_ttl_seconds,
            inline_seconds=svc.settings.fulfilment_inline_seconds,
            public_base_url=svc.settings.public_base_url,
            mail_held=gate.held,
        ),
    )
    await caps.settle(svc.redis, gate, outcome)
    if outcome.status == HELD and outcome.transaction_id is not None:
        # A replay too: it asks them if the first reply has not yet (``links.offer``).
        outcome = links.told(SENDS, outcome, await _offer(svc, outcome.transaction_id))
    if inline.fulfilling(outcome) and svc.upstreams is not None:
        outcome = await inline.first_try(
            svc, caller, outcome, service.settle_key(svc.sealer, caller, idempotency_key)
        )
    if svc.settings.metrics:
        metrics.observe_topup(caller.env, body.platform, None if outcome.replayed else outcome.code)
    return outcome


async def approve(
    svc: Services, caller: Caller, txn_id: str, *, spend: Spend | None = None
) -> Outcome:
    """An approval of a held send: ``hold.SendHold.approve``."""
    return await SENDS.approve(svc, caller, txn_id, spend=spend)


async def deny(
    svc: Services, caller: Caller, txn_id: str, *, spend: Spend | None = None
) -> Outcome:
    """A refusal of a held send: ``hold.SendHold.deny``."""
    return await SENDS.deny(svc, caller, txn_id, spend=spend)


async def _offer(svc: Services, txn_id: str) -> Outcome:
    """The held send's approvers asked where they are (``links.offer``), once the send
    has committed. The send stands whatever happens here: it waits on the dashboard's inbox as
    it always did, so a failure is logged, never the send's answer."""
    try:
        return await perform(
            svc.waker,
            links.offer(
                svc.db,
                svc.sealer,
                svc.redis,
                svc.settings,
                SENDS,
                txn_id,
                catalogues=svc.languages,
            ),
        )
    except Exception:
        log.exception("held send %s: its approvers could not be asked", txn_id)
        return Outcome(Code.SUCCESS)
