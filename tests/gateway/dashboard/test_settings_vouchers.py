"""Where a merchant's users redeem its vouchers, set on the Settings page: the voucher e-mail
then tells the recipient what to do with the code in the merchant's own words and link (a
button "Redeem at <host>" and the merchant's line), and without it, to enter the code where the
merchant's product asks or send it to the merchant; an address inside a network and a line with
markup are refused beside their fields, saving nothing; only an owner saves (CSRF-checked)."""

import re

from starlette.types import ASGIApp

from tests.fixtures.core import asgi_client
from tests.fixtures.dashboard import Account, SignUp, join_as

FORM = "/settings/vouchers"
_RAW_KEY = re.compile(r"ak_staging_[0-9A-Za-z]{32}")
URL = "https://shop.example/redeem"
LINE = "Sign in to Shop, open Billing, paste the code under Redeem."


async def _mail_text(app: ASGIApp, account: Account, email: str) -> str:
    made = await account.shown_once("/keys", {"name": "k", "scopes": "topup:send"}, page="/keys")
    raw = _RAW_KEY.search(made.text)
    assert raw is not None
    headers = {"Authorization": f"Bearer {raw.group()}"}
    async with asgi_client(app) as api:
        body = {"platform": "claude", "amount_cents": 500, "recipient_email": email}
        sent = await api.post("/topup/send", json=body, headers=headers)
        assert sent.json()["code"] == 1001, sent.text
    page = await account.client.get("/mail")
    found = re.search(r'href="/dashboard/mail/([^"]+)"', page.text)
    assert found is not None, page.text
    shown = await account.client.get(f"/mail/{found.group(1)}")
    return shown.text


async def test_the_voucher_mail_says_where_the_merchants_users_redeem(
    app: ASGIApp, sign_up: SignUp
) -> None:
    owner = await sign_up()
    before = await _mail_text(app, owner, "ann@example.com")
    assert "enter the code where" in before and "Redeem at" not in before

    saved = await owner.post(
        FORM, {"redeem_url": URL, "redeem_instructions": LINE}, page="/settings"
    )
    assert saved.status_code == 303, saved.text
    page = await owner.client.get("/settings?saved=vouchers")
    assert f'value="{URL}"' in page.text and "Saved" in page.text
    after = await _mail_text(app, owner, "bo@example.com")
    assert "Redeem at shop.example" in after and LINE in after
    assert "enter the code where" not in after


async def test_bad_addresses_and_lines_are_refused_and_only_owners_save(
    app: ASGIApp, sign_up: SignUp
) -> None:
    owner = await sign_up()
    for typed, field in (
        ({"redeem_url": "http://10.0.0.1/redeem"}, "redeem_url"),
        ({"redeem_url": "javascript:alert(1)"}, "redeem_url"),
        ({"redeem_instructions": "<b>bold</b>"}, "redeem_instructions"),
    ):
        refused = await owner.post(FORM, typed, page="/settings")
        assert refused.status_code == 422, (typed, refused.status_code)
        assert f'id="{field}-error"' in refused.text, typed
    page = await owner.client.get("/settings")
    assert 'id="redeem_url" name="redeem_url" type="url" maxlength="2048" value=""' in page.text
    viewer = await join_as(app, owner, "viewer")
    assert (await viewer.post(FORM, {"redeem_url": URL}, page="/settings")).status_code == 403
    forged = await owner.client.post(FORM, data={"redeem_url": URL, "csrf_token": "forged"})
    assert forged.status_code == 403
