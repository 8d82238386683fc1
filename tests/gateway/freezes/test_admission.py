"""A send whose caller authenticated before the freeze committed is still refused by its debit,
which is conditional on the flag: nothing written, its idempotency key not spent, so the same
request runs once unfrozen. A held send is not approved while frozen; it may be denied."""

import pytest

from gateway.callers import authenticate
from gateway.freezes import hands
from gateway.freezes import service as freezes
from gateway.freezes.schemas import FreezeRequest
from gateway.store.engine import Database
from gateway.topup import approvals, service
from gateway.topup.schemas import SendRequest
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.core import TEST_PEPPER
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced, merchant_balance
from tests.fixtures.policies import set_policy

BODY = SendRequest(platform="claude", amount_cents=300, recipient_email="late@example.com")


def _sealer(settings: Settings) -> Sealer:
    return Sealer(settings.secret_key.get_secret_value().encode())


async def test_a_send_admitted_before_the_freeze_is_refused_by_its_debit(
    db: Database, settings: Settings, make_merchant: MakeMerchant
) -> None:
    sealer = _sealer(settings)
    merchant = await make_merchant(balance_cents=1_000)
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    who = freezes.Freezer(merchant.merchant_id, "staging", "test")
    await freezes.freeze(db, sealer, who, FreezeRequest())

    for key in ("late-1", None):  # with a key and without
        with pytest.raises(ApiError) as refused:
            await service.send(
                db, sealer, caller, BODY, idempotency_key=key, idempotency_ttl_seconds=60
            )
        assert refused.value.code == Code.ENVIRONMENT_FROZEN
    assert await merchant_balance(db, merchant) == 1_000
    with pytest.raises(ApiError) as at_the_door:
        await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    assert at_the_door.value.code == Code.ENVIRONMENT_FROZEN

    await freezes.unfreeze(db, sealer, who, hands.OPERATOR)
    sent = await service.send(
        db, sealer, caller, BODY, idempotency_key="late-1", idempotency_ttl_seconds=60
    )
    assert sent.code == Code.TOPUP_DELIVERED
    assert await merchant_balance(db, merchant) == 700
    await assert_ledger_balanced(db)


async def test_a_held_send_waits_out_the_freeze_and_may_be_denied(
    db: Database, settings: Settings, make_merchant: MakeMerchant
) -> None:
    sealer = _sealer(settings)
    merchant = await make_merchant(balance_cents=1_000)
    approver = await make_merchant(merchant_id=merchant.merchant_id)
    await set_policy(db, merchant.key_id, {"approval_above_cents": 100})
    sender = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    deciding = await authenticate(db, TEST_PEPPER.encode(), approver.key)
    held = await service.send(
        db, sealer, sender, BODY, idempotency_key=None, idempotency_ttl_seconds=60
    )
    assert held.code == Code.TOPUP_AWAITING_APPROVAL and held.transaction_id is not None
    who = freezes.Freezer(merchant.merchant_id, "staging", "test")
    await freezes.freeze(db, sealer, who, FreezeRequest(held="keep"))

    with pytest.raises(ApiError) as refused:
        await approvals.approve(db, sealer, deciding, held.transaction_id)
    assert refused.value.code == Code.ENVIRONMENT_FROZEN
    denied = await approvals.deny(db, sealer, deciding, held.transaction_id)
    assert denied.code == Code.TOPUP_DENIED
    assert await merchant_balance(db, merchant) == 1_000
    await assert_ledger_balanced(db)
