"""The send with agents paying their own way: a refusal for funds carries an MPP challenge, and
the same send retried with a credential pays it, then runs (``doors.send``), once.

Every door that sends (REST, MCP) comes through ``send``; each renders the answer its own way:
REST puts ``challenge`` in ``WWW-Authenticate`` and ``receipt`` in ``Payment-Receipt``, MCP in
the JSON-RPC error's data and the result's ``_meta``.

The paid retry, in order: the credential is verified (``machine_payments.verify``: nothing is
read from the store for a forged, altered, expired or other merchant's challenge); a reply kept
under the idempotency key that is not the refusal for funds is answered as it is (the send was
paid and made already: nothing is charged again); the payment is taken and credited
(``agent_payments.pay``, single use per challenge); then the send runs without claiming the
key, and its outcome takes the refusal's place under the key (``idempotency.put``). Of
concurrent retries with one credential only the one whose payment credited the wallet sends.
A send refused after the payment (a spend limit, a wallet drained meanwhile) says so: the
payment stays in the wallet (``data.payment``).
"""

import dataclasses
from dataclasses import dataclass
from typing import Any

from mpp import Challenge, Receipt

from .. import idempotency
from ..billing import agent_payments, machine_payments
from ..billing.agent_payments import AgentPaid
from ..callers import Caller
from ..operations import perform
from ..services import Services
from ..values.clock import utcnow
from ..values.codes import CATALOGUE, Code
from ..values.outcome import ApiError, Outcome
from . import doors, service
from .schemas import BalanceData, SendRequest

__all__ = ["KEPT", "Answered", "challenge_for", "send"]

KEPT = (
    " The payment was taken and credited to the wallet (data.payment), and stays there: "
    "send again once this is resolved."
)


@dataclass(frozen=True, slots=True)
class Answered:
    """A send's outcome, and what the door adds: the challenge a refusal for funds (or a
    refused credential) carries, or the receipt of a payment the send was made with."""

    outcome: Outcome
    challenge: Challenge | None = None
    receipt: Receipt | None = None
    paid_challenge_id: str | None = None  # the challenge the receipt is for


async def challenge_for(
    svc: Services, caller: Caller, shortfall_cents: int, header: str | None
) -> Challenge | None:
    """The challenge for a shortfall, if the channel is offered and the amount can be paid;
    ``header`` the credential header it advertises (``machine_payments.challenge``)."""
    amount = machine_payments.amount_for(svc.settings, shortfall_cents)
    if amount is None or not await agent_payments.offered(svc.db, svc.settings, caller.env):
        return None
    return machine_payments.challenge(
        svc.settings,
        merchant_id=caller.merchant_id,
        env=caller.env,
        amount_cents=amount,
        now=utcnow(),
        header=header,
    )


def _shortfall(outcome: Outcome) -> int | None:
    if outcome.code != Code.INSUFFICIENT_BALANCE or not isinstance(outcome.data, dict):
        return None
    return int(outcome.data.get("shortfall_cents", 0))


async def _refused(svc: Services, caller: Caller, outcome: Outcome, header: str | None) -> Answered:
    """A refusal for funds with its challenge (built here, on the refusal's path only)."""
    short = _shortfall(outcome)
    if short is None:
        return Answered(outcome)
    return Answered(outcome, await challenge_for(svc, caller, short, header))


async def _bad_credential(
    svc: Services, caller: Caller, body: SendRequest, refusal: ApiError, header: str | None
) -> Answered:
    """A credential refused: nothing was charged or sent; a fresh challenge for what the
    wallet lacks now (a read of the balance)."""
    balance = (await service.balance(svc.db, caller)).one(BalanceData).balance_cents
    short = max(body.amount_cents - balance, 0)
    return Answered(refusal.outcome(), await challenge_for(svc, caller, short, header))


def _with_payment(outcome: Outcome, paid: AgentPaid) -> Outcome:
    """The send's outcome saying what paid for it; a refusal says the money stays."""
    data: Any = outcome.data
    if hasattr(data, "model_dump"):
        data = data.model_dump()
    data = {**data, "payment": paid.data()} if isinstance(data, dict) else {"payment": paid.data()}
    message = None
    if outcome.code >= 2000:
        message = (outcome.message or CATALOGUE[outcome.code].message) + KEPT
    return dataclasses.replace(outcome, data=data, message=message)


async def send(
    svc: Services,
    caller: Caller,
    body: SendRequest,
    idempotency_key: str | None,
    credential: str | None,
    *,
    header: str | None = machine_payments.CREDENTIAL_HEADER,
) -> Answered:
    """``credential``: the ``Payment`` credential as the HTTP header carries it (MCP's is
    converted to it); ``header``: what the challenges this answers with advertise."""
    if credential is None:
        outcome = await doors.send(svc, caller, body, idempotency_key)
        if outcome.code != Code.INSUFFICIENT_BALANCE:
            return Answered(outcome)
        return await _refused(svc, caller, outcome, header)
    now = utcnow()
    settings = svc.settings
    scope = idempotency.scope_of(caller, idempotency_key) if idempotency_key else None
    request_hash = service.request_hash(body)
    try:
        verified = machine_payments.verify(
            settings, credential, merchant_id=caller.merchant_id, env=caller.env, now=now
        )
        if scope is not None:
            kept = await svc.db.run(
                lambda tx: idempotency.peek(
                    tx,
                    svc.sealer,
                    **scope,
                    request_hash=request_hash,
                    now=now,
                    ttl_seconds=settings.idempotency_ttl_seconds,
                ),
                read_only=True,
            )
            if kept is not None and kept.code != Code.INSUFFICIENT_BALANCE:
                return Answered(dataclasses.replace(kept, replayed=True))
        paying = await perform(
            svc.waker, agent_payments.pay(svc.db, settings, caller, verified, now)
        )
    except ApiError as refusal:
        if refusal.code in machine_payments.PROBLEM_TYPES:
            return await _bad_credential(svc, caller, body, refusal, header)
        raise
    paid = paying.one(AgentPaid)
    # The key's kept refusal is not the answer: the send runs unclaimed, its outcome kept after.
    outcome = _with_payment(await doors.send(svc, caller, body, None), paid)
    if scope is not None:
        await svc.db.run(
            lambda tx: idempotency.put(
                tx, svc.sealer, **scope, request_hash=request_hash, now=now, outcome=outcome
            )
        )
    if outcome.code < 2000:
        receipt = machine_payments.receipt(paid.payment_id, now, verified.external_id)
        return Answered(outcome, receipt=receipt, paid_challenge_id=verified.challenge_id)
    return await _refused(svc, caller, outcome, header)
