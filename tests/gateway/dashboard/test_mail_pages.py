"""The Mail page: staging's mailbox shown whole, the voucher e-mail switch."""

import httpx

from gateway.store.engine import Database
from tests.fixtures.dashboard import SignUp
from tests.fixtures.mail_pages import SEND, key_of
from tests.fixtures.merchants import MakeMerchant


async def test_the_staging_mailbox_shows_each_mail_whole(
    sign_up: SignUp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    account = await sign_up()
    key = await key_of(db, account, make_merchant)
    sent = await client.post("/topup/send", json=SEND, headers=key.headers)
    voucher = sent.json()["data"]["voucher_code"]
    listing = await account.client.get("/mail")
    assert listing.status_code == 200
    assert "cy@example.com" in listing.text and "staged" in listing.text
    [mail_id] = [part.split('"')[0] for part in listing.text.split('data-mail="')[1:]]
    shown = await account.client.get(f"/mail/{mail_id}")
    assert shown.status_code == 200
    assert voucher in shown.text and 'id="mail-link" href="' in shown.text
    assert shown.headers["cache-control"] == "no-store"
    assert (await account.client.get("/mail/mail_000000000000000000000000")).status_code == 404

    # Once the merchant's product redeemed the voucher, its mail says so, and when.
    redeemed = await client.post("/vouchers/redeem", json={"code": voucher}, headers=key.headers)
    assert redeemed.json()["code"] == 1008
    shown = await account.client.get(f"/mail/{mail_id}")
    assert "Redeemed with" in shown.text and "To use this credit" not in shown.text


async def test_the_switch_turns_the_voucher_mail_off_and_on(
    sign_up: SignUp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    account = await sign_up()
    key = await key_of(db, account, make_merchant)
    off = await account.post("/mail/settings", {}, page="/mail")
    assert off.status_code == 303
    assert 'id="notify" checked' not in (await account.client.get("/mail")).text
    await client.post("/topup/send", json=SEND, headers=key.headers)
    assert "data-mail=" not in (await account.client.get("/mail")).text
    on = await account.post("/mail/settings", {"notify": "on"}, page="/mail")
    assert on.status_code == 303
    assert 'id="notify" checked' in (await account.client.get("/mail")).text
    await client.post("/topup/send", json=SEND, headers=key.headers)
    assert (await account.client.get("/mail")).text.count("data-mail=") == 1
    refused = await account.client.post("/mail/settings", data={"notify": "on"})
    assert refused.status_code == 403  # no CSRF token: refused, nothing changed


async def test_the_recipients_page_lists_the_merchants_own(
    sign_up: SignUp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    account = await sign_up()
    key = await key_of(db, account, make_merchant)
    stranger = await make_merchant("staging")
    await client.post("/topup/send", json=SEND, headers=key.headers)
    await client.post(
        "/topup/send", json={**SEND, "recipient_email": "zz@example.com"}, headers=stranger.headers
    )
    shown = await account.client.get("/recipients")
    assert shown.status_code == 200
    assert 'data-recipient="cy@example.com"' in shown.text and "$7.00" in shown.text
    assert "zz@example.com" not in shown.text
    assert (await account.client.get("/recipients?after=nope")).status_code == 404
