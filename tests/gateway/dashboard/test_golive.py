"""The going-live checklist: each missing item says so and links to where it is fixed; a met
one says so."""

import re

from sqlalchemy import insert, select
from starlette.types import ASGIApp

from gateway.clock import utcnow
from gateway.mail.links import DEFAULT_BASE_URL
from gateway.merchants.golive import CHECKS
from gateway.store.db import Database
from gateway.store.models import FulfilmentSetting, MerchantUser, User, table_of
from tests.fixtures.dashboard import SignUp, dashboard_client, sign_up_on

_F = table_of(FulfilmentSetting)
_MU = table_of(MerchantUser)
_U = table_of(User)


def _states(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-check="(\w+)" data-state="(\w+)"', html))


async def test_a_new_merchant_sees_what_is_missing_and_where_to_fix_it(sign_up: SignUp) -> None:
    owner = await sign_up()
    page = await owner.client.get("/go-live")
    assert page.status_code == 200
    assert _states(page.text) == {
        "live_key": "missing",
        "endpoint": "missing",
        "fulfilment": "missing",
        "funding": "missing",
    }
    assert len(CHECKS) == 4
    assert "Make a live key (switches to live)" in page.text
    assert 'name="next" value="/dashboard/keys"' in page.text
    # Live vouchers are what the merchant's product redeems: the page says so, and no more.
    assert "redeemable only here" not in page.text
    assert "Live top-ups are vouchers your product redeems (POST /vouchers/redeem)" in page.text

    await owner.post("/env", {"env": "live", "next": "/dashboard/go-live"})
    made = await owner.post("/keys", {"name": "live agent"}, page="/keys")
    assert made.status_code == 303
    page = await owner.client.get("/go-live")
    assert _states(page.text)["live_key"] == "done"
    # In live the links go straight to the page.
    assert '<a href="/dashboard/webhooks">Add or test a live endpoint</a>' in page.text
    assert '<a href="/dashboard/fulfilment">Choose where live credit lands</a>' in page.text


async def test_fulfilment_is_done_once_live_credit_lands_upstream(
    sign_up: SignUp, db: Database
) -> None:
    owner = await sign_up()
    now = utcnow()
    async with db.transaction() as conn:
        merchant_id = (
            await conn.execute(
                select(_MU.c.merchant_id)
                .join(_U, _U.c.id == _MU.c.user_id)
                .where(_U.c.email == owner.email)
            )
        ).scalar_one()
        for env in ("staging", "live"):
            await conn.execute(
                insert(_F).values(
                    merchant_id=merchant_id,
                    env=env,
                    platform="claude",
                    provider="newapi",
                    base_url="https://newapi.example.com",
                    created_at=now,
                    updated_at=now,
                )
            )
    page = await owner.client.get("/go-live")
    assert _states(page.text)["fulfilment"] == "done"
    assert "claude through newapi" in page.text


async def test_card_payments_count_as_a_way_to_fund(billing_app: ASGIApp) -> None:
    async with dashboard_client(billing_app) as client:
        owner = await sign_up_on(client)
        page = await owner.client.get("/go-live")
    assert _states(page.text)["funding"] == "done"


async def test_the_developers_page_gives_each_client_its_configuration(sign_up: SignUp) -> None:
    owner = await sign_up()
    page = (await owner.client.get("/developers")).text
    for client in ("Claude Code", "Claude Desktop", "Cursor"):
        for transport in ("http", "stdio"):
            assert f'data-mcp="{client}-{transport}"' in page
    # Built on the public base URL (unset here: the default), never on the request's Host.
    assert f"{DEFAULT_BASE_URL}/mcp" in page and "import httpx" in page
    assert "gateway.test" not in page
