"""An app's charge with agents paying their own way: a charge refused for funds carries the
same offers a send's does, and the charge retried with a credential pays it once, then runs
(``protocols.paid.pay_then``). The charge claims its idempotency key itself, so once paid the
key's kept refusal is let go and the charge runs under the key again; a concurrent retry
without payment then replays the refusal or, funded now, makes the one charge the key names."""

from datetime import datetime

from keys import Sealer

from ..apps import charges
from ..budgets.service import drawn
from ..callers import Caller
from ..operations import perform
from ..policies import rules
from ..protocols import paid
from ..protocols.registry import Presenting
from ..services import Services
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome

__all__ = ["charge"]


async def charge(
    svc: Services,
    caller: Caller,
    body: charges.ChargeCreate,
    key: str,
    presenting: Presenting | None,
) -> paid.Answered:
    sealer: Sealer = svc.sealer

    async def run() -> Outcome:
        return await perform(
            svc.waker,
            charges.charge(
                svc.db,
                sealer,
                caller,
                body,
                idempotency_key=key,
                idempotency_ttl_seconds=svc.settings.idempotency_ttl_seconds,
                public_base_url=svc.settings.public_base_url,
            ),
        )

    if presenting is None:
        outcome = await run()
        return await paid.refused(svc, caller, outcome, "http")

    async def judge(now: datetime) -> None:
        if caller.app_id is None:
            raise ApiError(Code.CHARGES_FOR_APPS_ONLY)
        budgets = await drawn(svc.db, caller.merchant_id, caller.env, caller.policy.budgets)
        payment = rules.charge(caller.app_id, body.amount_cents)
        rules.judge(caller.policy, payment, now, budgets, caller.consent)

    async def run_paid() -> Outcome:
        await perform(svc.waker, charges.let_go_refusal(svc.db, caller, key))
        return await run()

    payable = paid.Payable(charges.request_hash_of(body), body.amount_cents, judge, run_paid)
    return await paid.pay_then(svc, caller, presenting, key, payable, "http")
