"""The staging mailbox over the API: what staging sends wrote, as it would have been sent;
live keys refused with their own code; no merchant sees another's mail."""

import httpx

from tests.fixtures.merchants import MakeMerchant

SEND = {"platform": "gemini", "amount_cents": 250, "recipient_email": "bo@example.com"}


async def test_staging_mail_lands_in_the_mailbox(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    sent = await client.post("/topup/send", json=SEND, headers=merchant.headers)
    voucher = sent.json()["data"]["voucher_code"]
    listed = await client.get("/emails", headers=merchant.headers)
    assert listed.status_code == 200, listed.text
    [mail] = listed.json()["data"]
    assert mail["status"] == "staged" and mail["kind"] == "voucher"
    assert mail["to"] == "bo@example.com"
    assert mail["transaction_id"] == sent.json()["transaction_id"]
    assert voucher in mail["text"] and voucher in mail["html"]
    assert "$2.50 of Gemini credit" in mail["subject"]
    assert listed.headers["cache-control"] == "no-store"
    one = (await client.get(f"/emails/{mail['id']}", headers=merchant.headers)).json()["data"]
    assert one["subject"] == mail["subject"] and voucher in one["text"]


async def test_pages_by_cursor_and_keeps_to_its_merchant(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    other = await make_merchant("staging")
    for _ in range(3):
        await client.post("/topup/send", json=SEND, headers=merchant.headers)
    first = (await client.get("/emails?limit=2", headers=merchant.headers)).json()
    assert len(first["data"]) == 2 and first["meta"]["has_more"] is True
    cursor = first["meta"]["next_cursor"]
    second = (await client.get(f"/emails?limit=2&cursor={cursor}", headers=merchant.headers)).json()
    assert len(second["data"]) == 1 and second["meta"]["has_more"] is False
    assert (await client.get("/emails", headers=other.headers)).json()["data"] == []
    stranger = await client.get(f"/emails/{cursor}", headers=other.headers)
    assert stranger.status_code == 404 and stranger.json()["code"] == 4231
    bad = await client.get("/emails?cursor=nope", headers=merchant.headers)
    assert bad.status_code == 422 and bad.json()["code"] == 3005
    assert (await client.get("/emails/nope", headers=merchant.headers)).json()["code"] == 4231


async def test_live_keys_are_refused(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live", balance_cents=1_000)
    for path in ("/emails", "/emails/mail_000000000000000000000000"):
        refused = await client.get(path, headers=merchant.headers)
        assert refused.status_code == 403
        assert refused.json()["code"] == 4230


async def test_operators_switch_the_voucher_mail(
    admin_client: httpx.AsyncClient, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    path = f"/merchants/{merchant.merchant_id}"
    assert (await admin_client.get(path)).json()["data"]["notify_recipients"] is True
    off = await admin_client.patch(path, json={"notify_recipients": False})
    assert off.status_code == 200 and off.json()["data"]["notify_recipients"] is False
    assert off.json()["data"]["low_balance_threshold_cents"] == 0  # the other field is kept
    await client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert (await client.get("/emails", headers=merchant.headers)).json()["data"] == []
    for bad in ({"notify_recipients": None}, {"notify_recipients": "no"}):
        refused = await admin_client.patch(path, json=bad)
        assert (refused.status_code, refused.json()["code"]) == (422, 3001), bad
