"""The wallet page's orders: a custom amount bought through the form, the history filtered by
status, a receipt per paid order; and "check payment" only for the merchant's own orders."""

import re
from urllib.parse import urlsplit

import httpx

from tests.fixtures.dashboard import SignUp

WALLET = "/wallet"


def history(html: str) -> str:
    found = re.search(r'<table id="history">(.*?)</table>', html, re.S)
    return found.group(1) if found else ""


async def test_a_custom_amount_is_bought_filtered_and_receipted(
    sign_up: SignUp, client: httpx.AsyncClient
) -> None:
    account = await sign_up()
    reply = await account.post(
        "/wallet/checkout", {"pack_id": "custom", "amount": "25"}, page=WALLET
    )
    assert reply.status_code == 303, reply.text
    location = reply.headers["location"]
    order_id = urlsplit(location).path.rsplit("/", 1)[-1]
    unpaid = await account.client.get(f"{WALLET}/orders/{order_id}/receipt")
    assert unpaid.status_code == 409
    paid = await client.post(location.replace("?", "/pay?"))
    assert paid.status_code == 303

    completed = await account.client.get(f"{WALLET}?status=completed")
    assert order_id in history(completed.text) and "Custom amount" in history(completed.text)
    pending = await account.client.get(f"{WALLET}?status=pending")
    assert order_id not in history(pending.text)

    receipt = await account.client.get(f"{WALLET}/orders/{order_id}/receipt")
    assert receipt.status_code == 200, receipt.text
    assert 'id="paid">$25.00<' in receipt.text
    assert 'id="credited">$25.00<' in receipt.text
    assert order_id in receipt.text

    for bad in ("12.345", "abc", "-5", "", "1e9"):
        refused = await account.post(
            "/wallet/checkout", {"pack_id": "custom", "amount": bad}, page=WALLET
        )
        assert refused.status_code == 422, bad
        assert 'id="checkout-error"' in refused.text
    small = await account.post(
        "/wallet/checkout", {"pack_id": "custom", "amount": "1"}, page=WALLET
    )
    assert small.status_code == 422 and "500" in small.text


async def test_orders_of_another_merchant_are_not_found(sign_up: SignUp) -> None:
    owner = await sign_up()
    other = await sign_up()
    reply = await owner.post("/wallet/checkout", {"pack_id": "pack_pro"}, page=WALLET)
    order_id = urlsplit(reply.headers["location"]).path.rsplit("/", 1)[-1]
    assert (await other.client.get(f"{WALLET}/orders/{order_id}/receipt")).status_code == 404
    checked = await other.post(f"{WALLET}/orders/{order_id}/check", {}, page=WALLET)
    assert checked.status_code == 404
    mine = await owner.post(f"{WALLET}/orders/{order_id}/check", {}, page=WALLET)
    assert mine.status_code == 303  # a sandbox order is not looked up anywhere: nothing changes
    page = await owner.client.get(f"{WALLET}?status=pending")
    assert order_id in history(page.text)
