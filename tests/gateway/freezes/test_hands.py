"""Who may lift the kill switch (``freezes.hands``): a key of the merchant's own with the ``keys``
scope free of every limit the freeze protects, an owner, the operator. A key held by a limit,
a budget (its own or its template's), an approval rule or an expiry, an app's consent or its
managed key, and a developer or viewer are refused, each with its code, the environment still
frozen, nothing told. On each store."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, update

from gateway.budgets import service as budgets
from gateway.budgets.schemas import BudgetCreate, BudgetData
from gateway.freezes import hands
from gateway.freezes import service as freezes
from gateway.freezes.schemas import FreezeData, FreezeRequest
from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, PolicyTemplate, table_of
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.policies import set_policy
from tests.fixtures.webhooks import events_of

_K, _PT = table_of(ApiKeyRow), table_of(PolicyTemplate)
KEYS = ["topup:send", "topup:read", "keys"]
DAILY = [{"amount_cents": 100, "interval": "daily"}]
LATER = (datetime.now(UTC) + timedelta(days=30)).isoformat()


def _sealer(settings: Settings) -> Sealer:
    return Sealer(settings.secret_key.get_secret_value().encode())


async def _frozen(db: Database, settings: Settings, merchant: MerchantKey) -> freezes.Freezer:
    who = freezes.Freezer(merchant.merchant_id, merchant.env, "test")
    await freezes.freeze(db, _sealer(settings), who, FreezeRequest())
    return who


async def _state(db: Database, who: freezes.Freezer) -> bool:
    return (await freezes.state(db, who)).one(FreezeData).frozen


async def _refused(
    db: Database, settings: Settings, who: freezes.Freezer, hand: hands.Hand
) -> ApiError:
    with pytest.raises(ApiError) as refused:
        await freezes.unfreeze(db, _sealer(settings), who, hand)
    assert await _state(db, who), "a refused hand lifted the freeze"
    assert await events_of(db, who.merchant_id, "environment.unfrozen") == []
    return refused.value


@pytest.mark.parametrize(
    ("policy", "fields"),
    [
        ({"limits": DAILY}, ["limits"]),
        ({"max_per_send_cents": 100}, ["max_per_send_cents"]),
        ({"per_recipient_limit": DAILY[0]}, ["per_recipient_limit"]),
        ({"allowed_platforms": ["claude"]}, ["allowed_platforms"]),
        ({"allowed_recipients": ["@shop.example"]}, ["allowed_recipients"]),
        ({"approval_above_cents": 0}, ["approval_above_cents"]),
        ({"approval_for_new_recipients": True}, ["approval_for_new_recipients"]),
        ({"expires_at": LATER}, ["expires_at"]),
        ({"rate_limit_per_minute": 60}, ["rate_limit_per_minute"]),
    ],
)
async def test_a_key_held_by_any_limit_cannot_lift_the_freeze(
    db: Database,
    settings: Settings,
    make_merchant: MakeMerchant,
    policy: dict[str, Any],
    fields: list[str],
) -> None:
    merchant = await make_merchant()
    await set_policy(db, merchant.key_id, {"scopes": KEYS, **policy})
    who = await _frozen(db, settings, merchant)
    refused = await _refused(db, settings, who, hands.key(merchant.key_id))
    assert refused.code == Code.FREEZE_LIFT_KEY_LIMITED
    assert refused.data == {"fields": fields}


async def test_a_key_drawing_on_a_budget_its_own_or_its_templates_cannot_lift_it(
    db: Database, settings: Settings, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    owner = budgets.Owner(merchant.merchant_id, "staging")
    made = await budgets.create_budget(db, owner, BudgetCreate(name="Agents"))
    budget_id = made.one(BudgetData).id
    await set_policy(db, merchant.key_id, {"scopes": KEYS, "budgets": [budget_id]})
    who = await _frozen(db, settings, merchant)
    refused = await _refused(db, settings, who, hands.key(merchant.key_id))
    assert (refused.code, refused.data) == (Code.FREEZE_LIFT_KEY_LIMITED, {"fields": ["budgets"]})

    # The key itself free, its template drawing on the budget: held all the same.
    template_id = "pt_" + "b" * 24
    now = datetime.now(UTC)
    async with db.transaction() as conn:
        await conn.execute(
            insert(_PT).values(
                id=template_id,
                merchant_id=merchant.merchant_id,
                env="staging",
                name="Fleet",
                policy={"scopes": KEYS, "budgets": [budget_id]},
                created_at=now,
                updated_at=now,
            )
        )
        await conn.execute(
            update(_K)
            .where(_K.c.id == merchant.key_id)
            .values(policy={"scopes": KEYS, "template": template_id}, template_id=template_id)
        )
    refused = await _refused(db, settings, who, hands.key(merchant.key_id))
    assert (refused.code, refused.data) == (Code.FREEZE_LIFT_KEY_LIMITED, {"fields": ["budgets"]})


async def test_an_apps_consent_and_its_managed_key_never_lift_it_however_free(
    db: Database, settings: Settings, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    consent = await make_merchant(merchant_id=merchant.merchant_id)
    managed = await make_merchant(merchant_id=merchant.merchant_id)
    async with db.transaction() as conn:
        await conn.execute(update(_K).where(_K.c.id == consent.key_id).values(app_id="app_x"))
        await conn.execute(
            update(_K).where(_K.c.id == managed.key_id).values(managed_by=consent.key_id)
        )
    who = await _frozen(db, settings, merchant)
    for key in (consent, managed):
        refused = await _refused(db, settings, who, hands.key(key.key_id))
        assert refused.code == Code.FREEZE_LIFT_BY_APP


async def test_a_key_without_the_keys_scope_or_revoked_cannot_lift_it(
    db: Database, settings: Settings, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    revoked = await make_merchant(merchant_id=merchant.merchant_id)
    await set_policy(db, merchant.key_id, {"scopes": ["topup:send", "topup:read"]})
    async with db.transaction() as conn:
        await conn.execute(
            update(_K).where(_K.c.id == revoked.key_id).values(revoked_at=datetime.now(UTC))
        )
    who = await _frozen(db, settings, merchant)
    refused = await _refused(db, settings, who, hands.key(merchant.key_id))
    assert refused.code == Code.KEY_SCOPE_MISSING
    refused = await _refused(db, settings, who, hands.key(revoked.key_id))
    assert refused.code == Code.AUTH_REVOKED
    # Another merchant's key, free as it is, is not a key of this environment.
    stranger = await make_merchant()
    refused = await _refused(db, settings, who, hands.key(stranger.key_id))
    assert refused.code == Code.AUTH_REVOKED


async def test_only_an_owner_among_members_lifts_it(
    db: Database, settings: Settings, make_merchant: MakeMerchant
) -> None:
    for env in ("staging", "live"):
        merchant = await make_merchant(env)
        who = await _frozen(db, settings, merchant)
        for role in ("developer", "viewer", "stranger"):
            refused = await _refused(db, settings, who, hands.member(role))
            assert refused.code == Code.FREEZE_LIFT_ROLE, (env, role)
        await freezes.unfreeze(db, _sealer(settings), who, hands.member("owner"))
        assert not await _state(db, who)


@pytest.mark.parametrize(
    "policy", [None, {"scopes": KEYS}, {"scopes": KEYS, "soft_limit_percent": 80}]
)
async def test_a_key_free_of_every_limit_and_the_operator_lift_it(
    db: Database, settings: Settings, make_merchant: MakeMerchant, policy: dict[str, Any] | None
) -> None:
    """A key made before policies, a key with ``keys`` and no limit, one whose only field is a
    warning (``soft_limit_percent`` limits nothing); and the operator."""
    merchant = await make_merchant()
    await set_policy(db, merchant.key_id, policy)
    who = await _frozen(db, settings, merchant)
    lifted = await freezes.unfreeze(db, _sealer(settings), who, hands.key(merchant.key_id))
    assert lifted.one(FreezeData).frozen is False
    [event] = await events_of(db, merchant.merchant_id, "environment.unfrozen")
    assert event["data"]["by"] == "test"
    await _frozen(db, settings, merchant)
    await freezes.unfreeze(db, _sealer(settings), who, hands.OPERATOR)
    assert not await _state(db, who)
