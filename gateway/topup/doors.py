"""The send as every door (REST, MCP) runs it: the settings it takes, the workers woken for its rows
after commit, its upstream's first try (money first, network after: once the send committed), the
caps on voucher mails (``mail.caps``: counted before, given back when no mail was written), a held
send's approvers asked by mail and Telegram (``approvals.links``), and its count in the metrics. One
place, so the doors cannot drift apart."""

import logging
from collections.abc import Awaitable, Callable

from ..approvals import held, links
from ..callers import Caller
from ..mail import caps
from ..operations import perform, performed
from ..ops import metrics
from ..services import Services
from ..values.codes import Code
from ..values.outcome import Outcome
from . import approvals, fulfilling, lifecycle, service
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
    if outcome.status == HELD and not outcome.replayed and outcome.transaction_id is not None:
        await _offer(svc, outcome.transaction_id)
    if _fulfilling(outcome) and svc.upstreams is not None:
        outcome = await _inline(
            svc, caller, outcome, service.settle_key(svc.sealer, caller, idempotency_key)
        )
    if svc.settings.metrics:
        metrics.observe_topup(caller.env, body.platform, None if outcome.replayed else outcome.code)
    return outcome


async def approve(
    svc: Services, caller: Caller, txn_id: str, *, spend: links.Spend | None = None
) -> Outcome:
    """An approval of a held send (``approvals.approve``), the workers woken for its rows after
    commit; one handed to its upstream gets the same first try as a send. ``spend``: the
    one-time link it is made with, spent only if it decides."""
    gates = caps.Gates(svc.redis, svc.settings)
    try:
        outcome = await perform(
            svc.waker,
            approvals.approve(
                svc.db,
                svc.sealer,
                caller,
                txn_id,
                inline_seconds=svc.settings.fulfilment_inline_seconds,
                gates=gates,
                spend=spend,
            ),
        )
    except BaseException:
        await gates.settle(None)
        raise
    await gates.settle(outcome)
    if _fulfilling(outcome) and svc.upstreams is not None:
        outcome = await _inline(svc, caller, outcome)
    return outcome


async def deny(
    svc: Services, caller: Caller, txn_id: str, *, spend: links.Spend | None = None
) -> Outcome:
    """A refusal of a held send (``approvals.deny``): refunded, the workers woken for its rows
    after commit. ``spend``: the one-time link it is made with, spent only if it decides."""
    return await perform(svc.waker, approvals.deny(svc.db, svc.sealer, caller, txn_id, spend=spend))


async def _offer(svc: Services, txn_id: str) -> Outcome:
    """The held send's approvers asked where they are (``links.offer``), once the send
    has committed. The send stands whatever happens here: it waits on the dashboard's inbox as
    it always did, so a failure is logged, never the send's answer."""
    try:
        return await perform(
            svc.waker,
            links.offer(svc.db, svc.sealer, svc.redis, svc.settings, held.TOPUP, txn_id),
        )
    except Exception:
        log.exception("held send %s: its approvers could not be asked", txn_id)
        return Outcome(Code.SUCCESS)


def _fulfilling(outcome: Outcome) -> bool:
    return (
        not outcome.replayed
        and outcome.status == lifecycle.PENDING
        and isinstance(outcome.data, dict)
        and "fulfilment" in outcome.data
    )


async def _inline(
    svc: Services, caller: Caller, pending: Outcome, settle: fulfilling.Settle | None = None
) -> Outcome:
    """The upstream's first try, within ``AITOPUP_FULFILMENT_INLINE_SECONDS``: delivered (or
    failed) now if it answers in time, else still pending, for the worker to finish once the
    work falls due. ``settle``: the send's idempotency key takes the outcome it settled."""
    assert pending.transaction_id is not None and svc.upstreams is not None
    gates = caps.Gates(svc.redis, svc.settings)
    tried = await fulfilling.attempt(
        svc.db,
        svc.sealer,
        svc.settings,
        svc.upstreams.for_env,
        pending.transaction_id,
        1,
        reveal=caller.sees_codes(upstream=True),
        within=svc.settings.fulfilment_inline_seconds,
        settle=settle,
        gates=gates,
    )
    await gates.settle(tried.outcome)
    if tried.outcome is None:
        return pending
    return performed(svc.waker, tried.outcome)
