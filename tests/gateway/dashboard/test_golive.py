"""The going-live checklist: each missing item says so and links to where it is fixed; a met
one says so."""

import re

from sqlalchemy import insert, select
from starlette.types import ASGIApp

from gateway.merchants.golive import CHECKS, public_address
from gateway.store.engine import Database
from gateway.store.models import FulfilmentSetting, MerchantUser, User, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
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
        # The app is not started by ``aitopup serve`` here: where others reach it is unknown.
        "public_address": "unavailable",
    }
    assert len(CHECKS) == 5
    assert "not available" in page.text
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
    assert "claude (newapi)" in page.text


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
    # On the public base URL (unset here: the default), never the request's Host.
    assert "http://127.0.0.1:8000/mcp" in page and "gateway.test" not in page
    assert "import httpx" in page
    assert '<a href="/changelog">Changelog</a>' in page


async def test_the_public_address_is_missing_when_links_are_a_guess_beyond_loopback(
    settings: Settings,
) -> None:
    """Set by hand: done. Guessed by ``serve``/``make run`` (it was unset): missing when the
    gateway listens beyond loopback, not available on loopback or when nothing says."""
    cases = [
        ({"public_base_url": "https://pay.example.com"}, "done"),
        (
            {"public_base_url": "http://127.0.0.1:8000", "public_base_url_guessed_for": "0.0.0.0"},
            "missing",
        ),
        (
            {"public_base_url": "http://10.0.0.5:8000", "public_base_url_guessed_for": "10.0.0.5"},
            "missing",
        ),
        (
            {
                "public_base_url": "http://127.0.0.1:8000",
                "public_base_url_guessed_for": "127.0.0.1",
            },
            "unavailable",
        ),
        ({"public_base_url": None}, "unavailable"),
    ]
    for changes, state in cases:
        check = await public_address(None, settings.model_copy(update=changes), "mer_x")  # type: ignore[arg-type]
        assert (check.name, check.state) == ("public_address", state), (changes, check)
    missing = await public_address(
        None,  # type: ignore[arg-type]
        settings.model_copy(
            update={
                "public_base_url": "http://127.0.0.1:8000",
                "public_base_url_guessed_for": "0.0.0.0",
            }
        ),
        "mer_x",
    )
    assert "AITOPUP_PUBLIC_BASE_URL is unset" in missing.said and "0.0.0.0" in missing.said
