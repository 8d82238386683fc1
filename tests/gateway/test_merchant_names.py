"""A merchant's name is a name: one rule (``merchants.names``) that every door setting one keeps
(sign-up, the dashboard's settings, the admin API, the CLI), and a name stored before the rule
is never shown to a recipient as it is. On both stores."""

import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from starlette.types import ASGIApp

from gateway.merchants import names
from gateway.store.engine import Database
from gateway.store.models import Merchant, table_of
from gateway.values.settings import Settings
from tests.fixtures.commands import aitopup
from tests.fixtures.dashboard import PASSWORD, csrf_of, dashboard_client, sign_up_on

_M = table_of(Merchant)

GOOD = ["Acme Credits", "  Café Ünïcode  ", "J. R. Smith & Sons", "Acme Inc.", "x" * 60, "株式会社"]
BAD = [
    "Visit https://evil.example",
    "http:/evil",
    "www.evil",
    "evil.com",
    "Support at paypal.com now",
    "evil。com",  # an ideographic full stop
    "xn--80ak6aa92e.xn--p1ai",
    "help@evil.example",
    "Acme\r\nBcc: victim@example.com",
    "Acme\tCredits",
    "Acme \u202eevil\u202c",  # a bidi override
    "Ac\u200bme",  # a zero-width space
    "x" * 61,
    "   ",
    "",
]


@pytest.mark.parametrize("name", GOOD)
def test_a_name_is_kept_trimmed(name: str) -> None:
    assert names.check_name(name) == name.strip()


@pytest.mark.parametrize("name", BAD)
def test_what_is_no_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError):
        names.check_name(name)


def test_a_stored_name_past_the_rule_is_never_shown_as_it_is() -> None:
    class Row:
        def __init__(self, name: str, display_name: str | None) -> None:
            self.name, self.display_name = name, display_name

    assert names.display_name(Row("Acme", "evil.com")) == "Acme"
    assert names.display_name(Row("Acme", None)) == "Acme"
    assert names.display_name(Row("Get paid at evil.com\r\n", "x@y.io")) == names.PRODUCT_NAME
    assert names.safe_name(Row("Get paid at evil.com", None)) is None


async def _merchants_named(db: Database, name: str) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).where(_M.c.name == name))).scalar_one())


async def test_the_admin_api_refuses_a_name_that_is_no_name(
    admin_client: httpx.AsyncClient, db: Database
) -> None:
    for name in BAD:
        reply = await admin_client.post("/merchants", json={"name": name})
        assert (reply.status_code, reply.json()["code"]) == (422, 3001), (name, reply.text)
        assert await _merchants_named(db, name) == 0
    made = await admin_client.post("/merchants", json={"name": f" Acme {uuid.uuid4().hex[:8]} "})
    assert made.status_code == 201, made.text
    assert made.json()["data"]["name"] == made.json()["data"]["name"].strip()


async def test_sign_up_and_settings_refuse_a_name_that_is_no_name(
    app: ASGIApp, db: Database
) -> None:
    async with dashboard_client(app) as client:
        for name in ("Claim at evil.com", "Acme\u202e", "x@evil.example"):
            form = await client.get("/sign-up")
            email = f"owner-{uuid.uuid4().hex[:12]}@example.com"
            reply = await client.post(
                "/sign-up",
                data={
                    "csrf_token": csrf_of(form.text),
                    "email": email,
                    "password": PASSWORD,
                    "merchant_name": name,
                },
            )
            assert reply.status_code == 422, name
            assert 'id="merchant_name-error"' in reply.text
            assert await _merchants_named(db, name) == 0
        owner = await sign_up_on(client)
        for name in ("https://evil.example", "Pay at evil.com", "Acme\u200b"):
            refused = await owner.post(
                "/settings",
                {"display_name": name, "threshold_staging": "10", "threshold_live": "10"},
                page="/settings",
            )
            assert refused.status_code == 422, name
            assert 'id="display_name-error"' in refused.text
            assert "link or a domain" in refused.text or "control" in refused.text
        async with db.read() as conn:
            stored = (
                await conn.execute(
                    select(_M.c.display_name).where(_M.c.name == owner.merchant_name)
                )
            ).scalar_one()
        assert stored is None  # nothing was saved


async def test_the_cli_refuses_a_name_that_is_no_name(settings: Settings, tmp_path: Path) -> None:
    code, out, err = await aitopup(settings, tmp_path, "merchants", "create", "Win at evil.com")
    assert code == 2 and "link or a domain" in err and not out
