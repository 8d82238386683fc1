"""Who may charge the merchant's saved card: auto top-up's settings, its saved payment method and
its setup are the merchant's own act (a key of its own with ``billing:card``, or an owner on
the dashboard), never an app's: not its token, not the key it manages, whatever its consent
gives. An app that set a high threshold and then charged a cent would have the merchant's card
charged off-session; here it is refused before anything is read, saved or charged. On both
stores."""

from typing import Any

import httpx
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import AutoTopUp, AutoTopUpRun, Merchant, table_of
from tests.fixtures.dashboard import Account, csrf_of, dashboard_client, sign_up_on
from tests.fixtures.merchants import MakeMerchant, MerchantKey, merchant_balance, set_balance
from tests.fixtures.oauth import Flow, register_app

_A = table_of(AutoTopUp)
_R = table_of(AutoTopUpRun)
_M = table_of(Merchant)
PATH = "/wallet/auto-top-up"
SETTINGS = {"threshold_cents": 1_000, "target_cents": 2_000, "monthly_cap_cents": 10_000}
GREEDY = {"threshold_cents": 100_000, "target_cents": 500_000, "monthly_cap_cents": 1_000_000}


class Connected:
    """A merchant whose person consented to an app with ``billing`` (and ``keys:manage``), a
    $5.00 daily limit: the app's token, and the merchant's own key."""

    def __init__(self, token: str, merchant: MerchantKey) -> None:
        self.token, self.merchant = token, merchant

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def _connected(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> Connected:
    owner = await make_merchant("staging")
    asked = ["billing", "topup:read", "keys:manage"]
    made = await register_app(client, owner, scopes=asked)
    flow = Flow(app, made["id"], made["client_secret"])
    person: Account = await sign_up_on(dashboard_client(app))
    tokens = await flow.tokens(
        person, scope=" ".join(asked), form={"scopes": asked, "limit_daily": "5.00"}
    )
    await flow.oauth.aclose()
    token = {"Authorization": f"Bearer {tokens['access_token']}"}
    me = (await client.get("/me", headers=token)).json()["data"]
    assert "billing:card" not in me["scopes"]
    merchant = await make_merchant("staging", merchant_id=me["merchant"]["id"])
    async with db.transaction() as conn:
        await set_balance(conn, db, "staging", merchant.merchant_id, 10_000)
    return Connected(tokens["access_token"], merchant)


async def _setting(db: Database, merchant: MerchantKey) -> Any:
    async with db.read() as conn:
        return (
            await conn.execute(select(_A).where(_A.c.merchant_id == merchant.merchant_id))
        ).first()


async def _runs(db: Database, merchant: MerchantKey) -> list[Any]:
    async with db.read() as conn:
        found = await conn.execute(select(_R).where(_R.c.merchant_id == merchant.merchant_id))
        return list(found.all())


async def _refused_everywhere(
    client: httpx.AsyncClient, headers: dict[str, str], code: int
) -> None:
    """Every door of auto top-up refuses ``headers`` with ``code``."""
    tries: list[tuple[str, str, Any]] = [
        ("GET", PATH, None),
        ("PUT", PATH, GREEDY),
        ("DELETE", PATH, None),
        ("POST", f"{PATH}/setup", {"payment_method": "pm_card_visa"}),
    ]
    for method, path, body_sent in tries:
        reply = await client.request(method, path, json=body_sent, headers=headers)
        body = reply.json()
        assert (reply.status_code, body["code"]) == (403, code), (method, path, reply.text)
        assert body["data"]["scope"] == "billing:card"


async def test_an_apps_token_and_its_managed_key_never_reach_the_saved_card(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    connected = await _connected(app, client, make_merchant, db)
    merchant = connected.merchant
    saved = await client.post(
        f"{PATH}/setup", json={"payment_method": "pm_card_visa"}, headers=merchant.headers
    )
    assert saved.json()["data"]["status"] == "saved", saved.text
    put = await client.put(PATH, json=SETTINGS, headers=merchant.headers)
    assert put.status_code == 200, put.text
    before = await _setting(db, merchant)

    await _refused_everywhere(client, connected.headers, 2390)

    # The key the app manages, within its consent's billing; even when the merchant gives it
    # billing:card on its Keys page, it is the app's to use.
    daily = [{"amount_cents": 500, "interval": "daily"}]
    body = {"name": "server", "policy": {"scopes": ["billing"], "limits": daily}}
    made = await client.post("/apps/me/key", json=body, headers=connected.headers)
    assert made.status_code == 201, made.text
    managed = {"Authorization": f"Bearer {made.json()['data']['key']}"}
    await _refused_everywhere(client, managed, 2390)
    widened = await client.patch(
        f"/keys/{made.json()['data']['id']}",
        json={"policy": {"scopes": ["billing", "billing:card"], "limits": daily}},
        headers=merchant.headers,
    )
    assert widened.status_code == 200, widened.text
    await _refused_everywhere(client, managed, 2390)

    # Nothing changed: the settings and the card are the merchant's as it saved them.
    after = await _setting(db, merchant)
    assert after._mapping == before._mapping
    # A charge of a cent takes the wallet nowhere near a threshold the app could not set.
    charged = await client.post(
        "/charges",
        json={"amount_cents": 1, "description": "fee"},
        headers={**connected.headers, "Idempotency-Key": "fee-1"},
    )
    assert charged.status_code == 201, charged.text
    assert await merchant_balance(db, merchant) == 9_999
    assert await _runs(db, merchant) == []


async def test_a_key_needs_billing_card_and_billing_alone_is_refused(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging")

    async def key(scopes: list[str]) -> dict[str, str]:
        made = await client.post(
            "/keys", json={"name": "k", "policy": {"scopes": scopes}}, headers=merchant.headers
        )
        assert made.status_code == 201, made.text
        return {"Authorization": f"Bearer {made.json()['data']['key']}"}

    billing = await key(["billing", "topup:read"])
    await _refused_everywhere(client, billing, 2301)
    assert await _setting(db, merchant) is None

    card = await key(["billing:card"])
    saved = await client.post(
        f"{PATH}/setup", json={"payment_method": "pm_card_visa"}, headers=card
    )
    assert saved.json()["data"]["status"] == "saved", saved.text
    put = await client.put(PATH, json=SETTINGS, headers=card)
    assert put.status_code == 200 and put.json()["data"]["armed"] is True, put.text
    assert (await client.get(PATH, headers=card)).json()["data"]["threshold_cents"] == 1_000
    assert (await client.delete(PATH, headers=card)).json()["code"] == 1005
    # The merchant's key made before scopes were chosen holds every key scope, this one too.
    assert (await client.get(PATH, headers=merchant.headers)).json()["code"] == 4580


async def test_an_owner_sets_it_on_the_dashboard(app: ASGIApp, db: Database) -> None:
    owner = await sign_up_on(dashboard_client(app))
    page = await owner.client.get("/wallet")
    assert page.status_code == 200, page.text
    csrf = csrf_of(page.text)
    saved = await owner.client.post(
        "/wallet/auto-top-up/setup", data={"csrf_token": csrf, "card": "pm_card_visa"}
    )
    assert saved.status_code == 303 and "auto=card" in saved.headers["location"], saved.text
    form = {"threshold": "10.00", "target": "20.00", "cap": "100.00", "enabled": "on"}
    put = await owner.client.post("/wallet/auto-top-up", data={**form, "csrf_token": csrf})
    assert put.status_code == 303 and "auto=saved" in put.headers["location"], put.text
    async with db.read() as conn:
        mine = select(_M.c.id).where(_M.c.name == owner.merchant_name).scalar_subquery()
        [row] = (await conn.execute(select(_A).where(_A.c.merchant_id == mine))).all()
    assert (row.enabled, row.threshold_cents, row.target_cents) == (True, 1_000, 2_000)
    assert row.payment_method_ref == "pm_card_visa"
