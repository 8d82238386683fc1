"""The wallet page's orders: a custom amount bought through the form, the history filtered by
status, a receipt per paid order; and "check payment" only for the merchant's own orders."""

import re
from html import unescape
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


async def test_an_amount_typed_is_bought_whichever_pack_is_picked(
    sign_up: SignUp, client: httpx.AsyncClient
) -> None:
    """$30 typed with the first pack still picked in the list: a checkout for $30, not the
    pack's price; with nothing typed, the pack is bought."""
    account = await sign_up()
    typed = await account.post(
        "/wallet/checkout", {"pack_id": "pack_starter", "amount": "30"}, page=WALLET
    )
    assert typed.status_code == 303, typed.text
    shown = await client.get(typed.headers["location"])
    assert "$30.00" in shown.text, shown.text
    picked = await account.post("/wallet/checkout", {"pack_id": "pack_starter"}, page=WALLET)
    assert picked.status_code == 303, picked.text
    shown = await client.get(picked.headers["location"])
    assert "$30.00" not in shown.text and "$5.00" in shown.text


def _field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="{name}-error">(.*?)</p>', html)
    assert found is not None, name
    return unescape(found.group(1))


async def test_every_refusal_of_the_checkout_form_is_shown_at_once(sign_up: SignUp) -> None:
    """An amount that is no amount (or outside the allowed range) and an unknown coupon are
    both named beside their fields in one reply, listed above the form, with what was typed
    kept; nothing is ordered."""
    account = await sign_up()
    for amount, said in (("abc", "Enter an amount in dollars"), ("1", "from 500 to")):
        typed = {"pack_id": "custom", "amount": amount, "coupon": "NO-SUCH-COUPON"}
        refused = await account.post("/wallet/checkout", typed, page=WALLET)
        assert refused.status_code == 422, amount
        assert said in _field_error(refused.text, "amount")
        assert _field_error(refused.text, "coupon") == "Coupon not found"
        summary = re.search(r'id="checkout-error">(.*?)</div>', refused.text, re.S)
        assert summary is not None
        assert 'href="#amount"' in summary.group(1) and 'href="#coupon"' in summary.group(1)
        assert f'value="{amount}"' in refused.text and 'value="NO-SUCH-COUPON"' in refused.text
        assert '<option value="custom" selected>' in refused.text
        assert 'aria-describedby="amount-error"' in refused.text
        assert history(refused.text) == ""


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


async def test_the_history_names_the_channel_and_shows_what_was_paid(
    sign_up: SignUp, client: httpx.AsyncClient
) -> None:
    """An order not yet paid shows $0.00 paid, beside what it charges; once paid, what was
    paid. Each names the channel it goes through (in staging, the sandbox stands in)."""
    account = await sign_up()
    reply = await account.post(
        "/wallet/checkout", {"pack_id": "pack_pro", "channel": "stripe"}, page=WALLET
    )
    assert reply.status_code == 303, reply.text
    location = reply.headers["location"]
    order_id = urlsplit(location).path.rsplit("/", 1)[-1]

    def row_of(html: str) -> str:
        found = re.search(rf"<tr>\s*<td><code>{order_id}</code>.*?</tr>", unescape(html), re.S)
        assert found is not None
        return re.sub(r"\s+", " ", found.group(0))

    unpaid = row_of((await account.client.get(WALLET)).text)
    assert "(through Stripe, Sandbox)" in unpaid
    assert '<td class="num">$0.00 <span class="muted">(of $20.00)</span></td>' in unpaid

    assert (await client.post(location.replace("?", "/pay?"))).status_code == 303
    paid = row_of((await account.client.get(WALLET)).text)
    assert '<td class="num">$20.00</td>' in paid and "(through Stripe, Sandbox)" in paid
