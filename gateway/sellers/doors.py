"""A payment to a seller as every door (REST, MCP, the dashboard, a link) runs it: the
operation performed (the workers woken for its rows after commit), and a payment held for
approval offered to its approvers by mail and Telegram once it has committed
(``approvals.links``), as a held send is (``topup.doors``). One place, so the doors cannot
drift apart."""

import logging
from collections.abc import Awaitable, Callable

from ..approvals import links
from ..approvals.held import Spend
from ..callers import Caller
from ..operations import perform
from ..services import Services
from ..values.code_names import Code
from ..values.outcome import Outcome
from . import service
from .hold import PAYMENTS
from .schemas import PaymentCreate
from .states import HELD

__all__ = ["Decide", "approve", "deny", "pay"]

log = logging.getLogger("aitopup.payments")
# ``approve`` or ``deny``: (svc, caller, payment id, spend=).
Decide = Callable[..., Awaitable[Outcome]]


async def pay(
    svc: Services,
    caller: Caller,
    body: PaymentCreate,
    idempotency_key: str,
    *,
    proven: bool = False,
    request_hash: str | None = None,
) -> Outcome:
    """``POST /payments`` (MCP's ``pay_challenge``; a paying fetch's payment, ``proven``): the
    payment (``service.pay``), and if it was held, its approvers asked. The doors count it
    first (``merchant_limits``)."""
    operation = service.pay(
        svc.db,
        svc.sealer,
        svc.settings,
        caller,
        body,
        idempotency_key=idempotency_key,
        proven=proven,
        request_hash=request_hash,
    )
    outcome = await perform(svc.waker, operation)
    if outcome.status == HELD and outcome.transaction_id is not None:
        # A replay too: it asks them if the first reply has not yet (``links.offer``).
        outcome = links.told(PAYMENTS, outcome, await _offer(svc, outcome.transaction_id))
    return outcome


async def approve(
    svc: Services, caller: Caller, payment_id: str, *, spend: Spend | None = None
) -> Outcome:
    """An approval of a held payment: ``hold.PaymentHold.approve``."""
    return await PAYMENTS.approve(svc, caller, payment_id, spend=spend)


async def deny(
    svc: Services, caller: Caller, payment_id: str, *, spend: Spend | None = None
) -> Outcome:
    """A refusal of a held payment: ``hold.PaymentHold.deny``."""
    return await PAYMENTS.deny(svc, caller, payment_id, spend=spend)


async def _offer(svc: Services, payment_id: str) -> Outcome:
    """The held payment's approvers asked where they are (``links.offer``). The payment stands
    whatever happens here: it waits in the dashboard's inbox all the same, so a failure is
    logged, never the payment's answer."""
    try:
        return await perform(
            svc.waker,
            links.offer(
                svc.db,
                svc.sealer,
                svc.redis,
                svc.settings,
                PAYMENTS,
                payment_id,
                catalogues=svc.languages,
            ),
        )
    except Exception:
        log.exception("held payment %s: its approvers could not be asked", payment_id)
        return Outcome(Code.SUCCESS)
