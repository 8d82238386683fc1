"""A give-back of money that never left (a held send denied, a payment to a seller denied or
failed) restores the grants its debit was drawn from, with their category and expiry: denied
before a promotional grant's expiry the amount is that grant's again; after it, it expires at
once with its ``credit.expired`` and the balance shows it gone, whether the sweep had passed the
grant or not; one voided since leaves again with a void entry. No paid grant is made. On both
stores, through the doors a merchant uses."""

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from gateway.billing.wallet import grants as wallet_grants
from gateway.protocols import registry
from gateway.store.engine import Database
from gateway.store.models import CreditGrant, LedgerEntry, table_of
from gateway.values.clock import utcnow
from tests.fixtures.grants import grant, grants_listed
from tests.fixtures.held_payments import HOLDING, held
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.policies import set_policy
from tests.fixtures.seller_payments import pay
from tests.fixtures.tally_payer import RefusingPayer, TallyPayer
from tests.fixtures.webhooks import events_of

_G = table_of(CreditGrant)
_L = table_of(LedgerEntry)
HOLDS_SENDS = {"scopes": ["topup:send", "topup:read"], "approval_above_cents": 100}
SEND = {"platform": "claude", "recipient_email": "held@example.com", "amount_cents": 1_000}


async def _promotional(
    admin: httpx.AsyncClient, make_merchant: MakeMerchant, policy: dict[str, Any], cents: int
) -> tuple[MerchantKey, MerchantKey, str]:
    """A merchant whose only credit is a promotional grant of ``cents`` expiring in a day; its
    agent's key under ``policy``, a deciding key of its own, and the grant's id."""
    agent = await make_merchant("live", balance_cents=0)
    human = await make_merchant("live", merchant_id=agent.merchant_id)
    made = await grant(
        admin, agent.merchant_id, "live", cents, expires_at=utcnow() + timedelta(days=1)
    )
    return agent, human, made


async def _expire_now(db: Database, grant_id: str) -> None:
    """The grant's expiry moved into the past, as the merchant's clock passing it would."""
    async with db.transaction() as conn:
        await conn.execute(
            update(_G).where(_G.c.id == grant_id).values(expires_at=utcnow() - timedelta(minutes=1))
        )


async def _entries(db: Database, grant_id: str) -> list[tuple[str, int]]:
    async with db.read() as conn:
        rows = await conn.execute(
            select(_L.c.kind, _L.c.amount_cents).where(_L.c.reference == grant_id).order_by(_L.c.id)
        )
        return [(r.kind, int(r.amount_cents)) for r in rows]


async def _only(client: httpx.AsyncClient, key: MerchantKey, grant_id: str) -> dict[str, Any]:
    """The merchant's one live grant besides the zeroed paid one: no grant was made."""
    listed = await grants_listed(client, key.headers)
    made = [g for g in listed.values() if g["id"] != grant_id and g["amount_cents"] > 0]
    assert all(g["category"] == "paid" and g["remaining_cents"] == 0 for g in made), made
    found: dict[str, Any] = listed[grant_id]
    return found


async def test_a_send_denied_before_its_grant_expires_is_that_grant_again(
    db: Database,
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
) -> None:
    agent, human, promo = await _promotional(admin_client, make_merchant, HOLDS_SENDS, 1_000)
    await set_policy(db, agent.key_id, HOLDS_SENDS)
    sent = await billing_client.post("/topup/send", json=SEND, headers=agent.headers)
    assert sent.status_code == 202, sent.text
    before = await _only(billing_client, human, promo)
    assert before["remaining_cents"] == 0  # the list drew the held send from it
    denied = await billing_client.post(
        f"/topup/{sent.json()['transaction_id']}/deny", headers=human.headers
    )
    assert denied.json()["status"] == "denied", denied.text
    after = await _only(billing_client, human, promo)
    assert (after["category"], after["expires_at"], after["remaining_cents"]) == (
        "promotional",
        before["expires_at"],
        1_000,
    )
    assert after["status"] == "active"
    assert await merchant_balance(db, agent) == 1_000
    await assert_ledger_balanced(db)


@pytest.mark.parametrize("swept", [False, True], ids=["unswept", "swept"])
async def test_a_send_denied_after_its_grant_expired_expires_at_once(
    db: Database,
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    swept: bool,
) -> None:
    agent, human, promo = await _promotional(admin_client, make_merchant, HOLDS_SENDS, 1_000)
    await set_policy(db, agent.key_id, HOLDS_SENDS)
    sent = await billing_client.post("/topup/send", json=SEND, headers=agent.headers)
    assert sent.status_code == 202, sent.text
    await _expire_now(db, promo)
    if swept:  # the sweep settles the held send first: nothing is left of the grant to expire
        assert (await wallet_grants.expire_due(db, utcnow())).data == {"expired": 0}
    denied = await billing_client.post(
        f"/topup/{sent.json()['transaction_id']}/deny", headers=human.headers
    )
    assert denied.json()["status"] == "denied", denied.text
    [expired] = await events_of(db, agent.merchant_id, "credit.expired")
    assert {k: expired["data"][k] for k in ("grant_id", "category", "expired_cents")} == {
        "grant_id": promo,
        "category": "promotional",
        "expired_cents": 1_000,
    }
    assert expired["data"]["balance_cents"] == 0 == await merchant_balance(db, agent)
    after = await _only(billing_client, human, promo)
    assert (after["status"], after["remaining_cents"]) == ("expired", 0)
    await assert_ledger_balanced(db)


async def test_a_send_denied_after_its_grant_was_voided_leaves_with_a_void_entry(
    db: Database,
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
) -> None:
    agent, human, promo = await _promotional(admin_client, make_merchant, HOLDS_SENDS, 1_000)
    await set_policy(db, agent.key_id, HOLDS_SENDS)
    sent = await billing_client.post("/topup/send", json=SEND, headers=agent.headers)
    assert sent.status_code == 202, sent.text
    void = f"/merchants/{agent.merchant_id}/credit-grants/{promo}/void"
    voided = await admin_client.post(void)
    assert voided.json()["data"]["status"] == "voided", voided.text
    denied = await billing_client.post(
        f"/topup/{sent.json()['transaction_id']}/deny", headers=human.headers
    )
    assert denied.json()["status"] == "denied", denied.text
    # The void found nothing left (the held send drew it all); the give-back leaves at once.
    assert await _entries(db, promo) == [("grant_voided", -1_000)]
    after = await _only(billing_client, human, promo)
    assert (after["status"], after["remaining_cents"]) == ("voided", 0)
    assert await merchant_balance(db, agent) == 0
    assert await events_of(db, agent.merchant_id, "credit.expired") == []
    await assert_ledger_balanced(db)


async def test_a_payment_denied_gives_back_to_its_grant_and_one_after_expiry_expires(
    db: Database,
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
) -> None:
    agent, human, promo = await _promotional(admin_client, make_merchant, HOLDING, 100)
    await set_policy(db, agent.key_id, HOLDING)
    first = await held(billing_client, agent, "g-1")  # 25 cents
    released = await billing_client.post(f"/payments/{first}/deny", headers=human.headers)
    assert released.status_code == 200, released.text
    kept = await _only(billing_client, human, promo)
    assert (kept["category"], kept["remaining_cents"], kept["status"]) == (
        "promotional",
        100,
        "active",
    )
    second = await held(billing_client, agent, "g-2")
    await _expire_now(db, promo)
    released = await billing_client.post(f"/payments/{second}/deny", headers=human.headers)
    assert released.status_code == 200, released.text
    [expired] = await events_of(db, agent.merchant_id, "credit.expired")
    assert (expired["data"]["grant_id"], expired["data"]["expired_cents"]) == (promo, 100)
    assert await merchant_balance(db, agent) == 0
    await assert_ledger_balanced(db)


async def test_a_failed_payment_drawn_from_an_expired_grant_expires_at_once(
    db: Database,
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
) -> None:
    with registry.paying(RefusingPayer()):
        agent, _, promo = await _promotional(admin_client, make_merchant, {}, 100)
        await set_policy(db, agent.key_id, {"scopes": ["payments:send"]})
        await _expire_now(db, promo)  # past its expiry, not yet swept: drawn first
        refused = await pay(billing_client, agent, "r-1")
        assert refused.json()["status"] == "failed", refused.text
    [expired] = await events_of(db, agent.merchant_id, "credit.expired")
    assert (expired["data"]["grant_id"], expired["data"]["expired_cents"]) == (promo, 100)
    assert await merchant_balance(db, agent) == 0
    await assert_ledger_balanced(db)
