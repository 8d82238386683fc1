"""Retention never takes what a late refund needs: the spans of an app's charge not yet refunded
stay past the horizon (a charge is refunded once, at any age), so its refund months later
restores the promotional grant it drew, its category and expiry kept, not a new paid grant;
once refunded, its spans go. On both stores."""

from datetime import timedelta

import httpx
from sqlalchemy import select, update
from starlette.types import ASGIApp

from gateway.ledger import grants
from gateway.ledger import service as ledger
from gateway.store.engine import Database
from gateway.store.models import CreditDraw, LedgerEntry, table_of
from gateway.values.clock import utcnow
from tests.fixtures.charges import FEE, paying_consent
from tests.fixtures.grants import grant, grants_listed
from tests.fixtures.merchants import MakeMerchant, set_balance, unbalanced_wallets
from worker.retention import prune_draws

_D, _L = table_of(CreditDraw), table_of(LedgerEntry)


async def _spans(db: Database, wallet_id: str) -> int:
    async with db.read() as conn:
        found = await conn.execute(select(_D.c.id).where(_D.c.wallet_id == wallet_id))
        return len(found.all())


async def test_a_charge_refunded_after_the_horizon_restores_the_grant_it_drew(
    app: ASGIApp,
    client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    paying = await paying_consent(app, client, make_merchant)
    payer = paying.payer
    async with db.transaction() as conn:  # the promotional grant alone to draw from
        await set_balance(conn, db, "staging", payer.merchant_id, 0)
    expires = utcnow() + timedelta(days=30)
    promo = await grant(admin_client, payer.merchant_id, "staging", 500, expires_at=expires)
    charged = await client.post("/charges", json=FEE, headers=paying.headers("old"))
    assert charged.status_code in (200, 201), charged.text
    charge_id = charged.json()["data"]["id"]
    async with db.transaction() as conn:
        wallet = await ledger.balance(conn, "staging", ledger.merchant_owner(payer.merchant_id))
        assert wallet is not None
        await grants.settle(conn, wallet.wallet_id)  # its span written
        # The charge, and every entry of the wallet, a hundred days old.
        await conn.execute(
            update(_L)
            .where(_L.c.wallet_id == wallet.wallet_id)
            .values(created_at=utcnow() - timedelta(days=100))
        )
    assert (await grants_listed(client, payer.headers))[promo]["remaining_cents"] == 400
    assert await _spans(db, wallet.wallet_id) >= 1

    # Past the horizon, but its refund may still come: its spans stay.
    await prune_draws(db, now=utcnow(), days=90)
    assert await _spans(db, wallet.wallet_id) >= 1

    before = set(await grants_listed(client, payer.headers))
    refunded = await client.post(f"/charges/{charge_id}/refund", json={}, headers=paying.headers())
    assert refunded.status_code == 200, refunded.text
    listed = await grants_listed(client, payer.headers)
    assert listed[promo]["remaining_cents"] == 500  # back to the promotional grant
    assert listed[promo]["category"] == "promotional"
    assert listed[promo]["expires_at"] is not None
    assert set(listed) == before  # no new paid grant made for it
    assert await unbalanced_wallets(db) == []

    # Refunded, nothing can reach them: they go.
    await prune_draws(db, now=utcnow(), days=90)
    assert await _spans(db, wallet.wallet_id) == 0
