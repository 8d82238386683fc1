"""The send with agents paying their own way: a refusal for funds carries the protocols' offers,
and the same send retried with a credential pays it, then runs (``doors.send``), once, through
the paid retry every payable request shares (``protocols.paid``).

Every door that sends (REST, MCP) comes through ``send``, with what its request presented
(``protocols.registry.presented_in_headers`` or ``presented_in_meta``) and the transport it
renders the answer on.
"""

from datetime import datetime

from ..budgets.service import drawn
from ..callers import Caller
from ..protocols import paid
from ..protocols.base import Transport
from ..protocols.registry import Presenting
from ..services import Services
from ..values.code_names import Code
from ..values.outcome import Outcome
from . import doors, service
from .schemas import SendRequest

__all__ = ["send"]


async def send(
    svc: Services,
    caller: Caller,
    body: SendRequest,
    idempotency_key: str | None,
    presenting: Presenting | None,
    *,
    transport: Transport = "http",
) -> paid.Answered:
    """``presenting``: what the retry presented, if anything; ``transport``: what the answer is
    rendered on (MCP's offers are those spoken over MCP)."""
    if presenting is None:
        outcome = await doors.send(svc, caller, body, idempotency_key)
        if outcome.code != Code.INSUFFICIENT_BALANCE:
            return paid.Answered(outcome)
        return await paid.refused(svc, caller, outcome, transport)

    async def judge(now: datetime) -> None:
        budgets = await drawn(svc.db, caller.merchant_id, caller.env, caller.policy.budgets)
        service.judge(caller, body, now, budgets)

    async def run() -> Outcome:
        # The key's kept refusal is not the answer: the send runs unclaimed (its outcome is
        # kept under the key after, by ``pay_then``).
        return await doors.send(svc, caller, body, None)

    payable = paid.Payable(service.request_hash(body), body.amount_cents, judge, run)
    return await paid.pay_then(svc, caller, presenting, idempotency_key, payable, transport)
