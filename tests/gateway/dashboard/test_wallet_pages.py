"""The wallet page through its forms: the balance, buying a pack through the staging sandbox
checkout, redeeming a code, the history and the ledger; refusals beside the form, CSRF."""

import re
import time
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import respx
from starlette.types import ASGIApp

from gateway.accounts import users
from gateway.admin.audit import Call
from gateway.admin.redemption_codes import create_codes
from gateway.admin.schemas import CodeBatchData, CodeBatchRequest
from gateway.billing.wallet.funding import credit_merchant
from gateway.ledger import grants
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Env
from tests.fixtures.billing import PUBLIC_BASE, STRIPE_API
from tests.fixtures.dashboard import (
    Account,
    SignUp,
    csrf_of,
    dashboard_client,
    sign_up_on,
)

WALLET = "/wallet"


async def _codes(db: Database, settings: Settings, amount_cents: int, env: Env = "staging") -> str:
    call = Call("operator", "redemption_codes.create", "POST", "/test", None)
    batch = await create_codes(
        db, settings, call, CodeBatchRequest(count=1, amount_cents=amount_cents, env=env)
    )
    return batch.one(CodeBatchData).codes[0]


def _balance(html: str) -> str:
    found = re.search(r'<p class="figure" id="balance">([^<]+)</p>', html)
    assert found is not None
    return unescape(found.group(1))


def _table(html: str, table_id: str) -> str:
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', html, re.S)
    return found.group(1) if found else ""


def _numbers(table: str) -> list[int]:
    """The numbers a ledger table shows, in its order."""
    return [int(n) for n in re.findall(r'<tr data-entry="\d+">\s*<td><code>(\d+)</code>', table)]


async def _merchant_id(db: Database, account: Account) -> str:
    user = await users.check_password(db, account.email, account.password)
    assert user is not None
    return user.merchant_id


async def test_the_wallet_shows_the_balance_packs_and_empty_lists(sign_up: SignUp) -> None:
    account = await sign_up()
    reply = await account.client.get(WALLET)
    assert reply.status_code == 200
    assert _balance(reply.text) == "$1,000.00"  # the staging wallet starts funded
    for pack in ("pack_starter", "pack_pro", "pack_business"):
        assert f'value="{pack}"' in reply.text
    # A pack's credits named as such, beside what they are in the wallet's currency.
    assert "Pro: $20.00 for 25,000 credits ($25.00 of credit) (popular)" in unescape(reply.text)
    assert "No checkouts or redemptions yet." in reply.text
    assert _table(reply.text, "ledger").count("initial_funding") == 1
    # Styled as the other tables: a type label, money as elsewhere, the one date format.
    ledger = _table(reply.text, "ledger")
    started = '<span class="status" data-type="initial_funding">staging starting balance</span>'
    assert started in ledger
    # Its credit grant is the staging starting balance, not credit anybody bought.
    grants_table = _table(reply.text, "grants")
    assert 'data-category="paid">staging starting balance</span>' in grants_table
    assert ">bought<" not in grants_table
    assert '<td class="num">$1,000.00</td>' in ledger
    assert re.search(
        r'<td class="hide-narrow">\d{4}-\d\d-\d\d \d\d:\d\d UTC \(just now\)</td>', ledger
    )
    assert ledger.count('<th scope="col"') == 6


async def test_the_wallet_says_who_makes_plans_and_chooses_channels(sign_up: SignUp) -> None:
    """A person who sees no plan, or misses a channel, learns whom to ask: the operator."""
    account = await sign_up()
    page = unescape((await account.client.get(WALLET)).text)
    said = re.search(r'<p class="muted" id="who-offers">([^<]+)</p>', page)
    assert said is not None
    assert "operator makes the packs and plans" in said.group(1)
    assert "chooses the payment channels" in said.group(1)


async def test_buying_a_pack_pays_through_the_sandbox_checkout(
    sign_up: SignUp, client: httpx.AsyncClient
) -> None:
    account = await sign_up()
    reply = await account.post("/wallet/checkout", {"pack_id": "pack_starter"}, page=WALLET)
    assert reply.status_code == 303
    assert reply.headers["cache-control"] == "no-store"  # the link alone can pay the order
    location = reply.headers["location"]
    link = urlsplit(location)
    assert link.path.startswith("/api/public/v1/billing/sandbox/checkout/ord_")
    sandbox = await client.get(location)
    assert sandbox.status_code == 200 and "Starter pack" in sandbox.text
    pending = await account.client.get(WALLET)
    assert "pending" in _table(pending.text, "history")

    paid = await client.post(location.replace("?", "/pay?"))
    assert paid.status_code == 303
    back = urlsplit(paid.headers["location"])
    assert (back.path, back.query) == ("/dashboard/wallet", "notice=paid")

    page = await account.client.get(f"{WALLET}?notice=paid")
    assert "Checkout finished" in page.text
    assert _balance(page.text) == "$1,005.00"
    history = _table(page.text, "history")
    assert "Starter pack" in history and "completed" in history
    assert "checkout" in _table(page.text, "ledger")


async def test_a_checkout_refusal_is_shown_beside_the_form_with_the_input_kept(
    sign_up: SignUp,
) -> None:
    account = await sign_up()
    reply = await account.post(
        "/wallet/checkout", {"pack_id": "pack_pro", "coupon": "NO-SUCH-COUPON"}, page=WALLET
    )
    assert reply.status_code == 404
    assert 'id="checkout-error"' in reply.text and "Coupon not found" in reply.text
    assert 'value="NO-SUCH-COUPON"' in reply.text
    assert '<option value="pack_pro" selected>' in reply.text
    assert "No checkouts or redemptions yet." in reply.text

    unknown = await account.post("/wallet/checkout", {"pack_id": "pack_nope"}, page=WALLET)
    assert unknown.status_code == 404 and "Pack not found" in unknown.text


async def test_live_checkout_without_stripe_says_payments_are_not_configured(
    sign_up: SignUp,
) -> None:
    account = await sign_up()
    switched = await account.post("/env", {"env": "live", "next": "/dashboard/wallet"}, page=WALLET)
    assert switched.status_code == 303
    page = await account.client.get(WALLET)
    assert _balance(page.text) == "$0.00"
    assert "Card payments are not configured" in page.text
    reply = await account.post("/wallet/checkout", {"pack_id": "pack_starter"}, page=WALLET)
    assert reply.status_code == 503
    assert "set AITOPUP_STRIPE_SECRET_KEY" in reply.text


async def test_redeeming_a_code_credits_the_wallet_once(
    sign_up: SignUp, db: Database, settings: Settings
) -> None:
    account = await sign_up()
    code = await _codes(db, settings, 2_500)
    reply = await account.post("/wallet/redeem", {"code": code}, page=WALLET)
    assert reply.status_code == 303
    assert reply.headers["location"] == "/dashboard/wallet?notice=redeemed"
    page = await account.client.get(WALLET)
    assert _balance(page.text) == "$1,025.00"
    assert "Redeemed code" in _table(page.text, "history")
    assert "redemption" in _table(page.text, "ledger")

    again = await account.post("/wallet/redeem", {"code": code}, page=WALLET)
    assert again.status_code == 409
    assert "Redemption code already used" in again.text
    assert f'value="{code}"' in again.text  # kept in the input
    assert _balance(again.text) == "$1,025.00"


async def test_a_code_of_the_other_environment_or_none_is_refused(
    sign_up: SignUp, db: Database, settings: Settings
) -> None:
    account = await sign_up()
    live_code = await _codes(db, settings, 100, env="live")
    reply = await account.post("/wallet/redeem", {"code": live_code}, page=WALLET)
    assert reply.status_code == 403
    assert "belongs to the other environment" in reply.text
    unknown = await account.post("/wallet/redeem", {"code": "RDM-NOPE"}, page=WALLET)
    assert unknown.status_code == 404 and "Unknown redemption code" in unknown.text
    empty = await account.post("/wallet/redeem", {"code": "  "}, page=WALLET)
    assert empty.status_code == 422 and "Enter a redemption code." in empty.text
    # Said beside the field too, which points at it.
    assert '<p class="field-error" id="code-error">Enter a redemption code.</p>' in empty.text
    assert 'aria-describedby="code-error"' in empty.text


async def test_forms_without_the_csrf_token_change_nothing(
    sign_up: SignUp, db: Database, settings: Settings
) -> None:
    account = await sign_up()
    code = await _codes(db, settings, 700)
    for data in ({"code": code}, {"code": code, "csrf_token": "forged"}):
        refused = await account.client.post("/wallet/redeem", data=data)
        assert refused.status_code == 403
    refused = await account.client.post("/wallet/checkout", data={"pack_id": "pack_starter"})
    assert refused.status_code == 403
    page = await account.client.get(WALLET)
    assert _balance(page.text) == "$1,000.00"
    assert "No checkouts or redemptions yet." in page.text
    # The code was never claimed: the owner can still redeem it.
    reply = await account.post("/wallet/redeem", {"code": code}, page=WALLET)
    assert reply.status_code == 303


async def test_each_merchant_sees_only_its_own_wallet(
    sign_up: SignUp, db: Database, settings: Settings
) -> None:
    first, second = await sign_up(), await sign_up()
    code = await _codes(db, settings, 1_234)
    assert (await first.post("/wallet/redeem", {"code": code}, page=WALLET)).status_code == 303
    mine = await first.client.get(WALLET)
    theirs = await second.client.get(WALLET)
    order = re.search(r"<code>(ord_[0-9a-z]+)</code>", _table(mine.text, "history"))
    assert order is not None
    assert order.group(1) not in theirs.text
    assert _balance(theirs.text) == "$1,000.00"
    assert await _merchant_id(db, first) != await _merchant_id(db, second)


async def test_redemption_attempts_count_against_the_apis_limit(
    sign_up: SignUp, settings: Settings
) -> None:
    account = await sign_up()
    for _ in range(settings.redeem_attempts_per_minute):
        wrong = await account.post("/wallet/redeem", {"code": "RDM-WRONG"}, page=WALLET)
        assert wrong.status_code == 404
    refused = await account.post("/wallet/redeem", {"code": "RDM-WRONG"}, page=WALLET)
    assert refused.status_code == 429
    assert "Too many redemption attempts" in refused.text
    assert int(refused.headers["retry-after"]) > 0


async def test_the_wallet_pages_its_ledger(sign_up: SignUp, db: Database) -> None:
    account = await sign_up()
    merchant_id = await _merchant_id(db, account)
    async with db.transaction() as conn:
        for n in range(21):  # with the initial funding, 22 entries: two pages
            await credit_merchant(
                conn,
                env="staging",
                merchant_id=merchant_id,
                amount=1,
                source="adjustment",
                reference=f"test-{n}",
                memo=None,
                now=utcnow(),
                grant=grants.PAID,
            )
    first = await account.client.get(WALLET)
    assert "22 entries" in first.text
    assert _table(first.text, "ledger").count("<tr data-entry=") == 20
    assert "initial_funding" not in _table(first.text, "ledger")
    assert ">Newest</a>" not in first.text
    # The older page is read by key, after the last entry shown: its cursor is the link's.
    older = re.search(r'href="\?ledger_after=(\d+)&amp;history=1">Older</a>', first.text)
    assert older is not None, first.text
    shown = re.findall(r'<tr data-entry="(\d+)">', _table(first.text, "ledger"))
    assert older.group(1) == shown[-1]
    second = await account.client.get(f"{WALLET}?ledger_after={older.group(1)}")
    ledger = _table(second.text, "ledger")
    assert "initial_funding" in ledger and ledger.count("<tr data-entry=") == 2
    # Numbered in the wallet, 22 down to 1 with no gap, whatever ids other wallets took.
    numbers = [*_numbers(_table(first.text, "ledger")), *_numbers(ledger)]
    assert numbers == list(range(22, 0, -1))
    assert ">Newest</a>" in second.text and ">Older</a>" not in second.text
    for bad in ("abc", "0", "-5", "9" * 19):  # anything but a cursor: the newest page
        again = await account.client.get(f"{WALLET}?ledger_after={bad}")
        assert again.status_code == 200
        assert _table(again.text, "ledger") == _table(first.text, "ledger")


async def test_live_checkout_leads_to_stripe_through_a_link(billing_app: ASGIApp) -> None:
    """The dashboard's CSP lets a form post only here, redirects included: Stripe's page is
    reached through a link on a page no cache keeps."""
    async with dashboard_client(billing_app) as client:
        await sign_up_on(client)
        wallet = await client.get(WALLET)
        await client.post(
            "/env", data={"csrf_token": csrf_of(wallet.text), "env": "live", "next": WALLET}
        )
        wallet = await client.get(WALLET)
        assert "Card payments are not configured" not in wallet.text
        reply = {
            "id": "cs_dash_1",
            "object": "checkout.session",
            "url": "https://checkout.stripe.test/pay/cs_dash_1",
            "expires_at": int(time.time()) + 3600,
        }
        with respx.mock(assert_all_called=True) as stripe_api:
            route = stripe_api.post(f"{STRIPE_API}/v1/checkout/sessions").respond(200, json=reply)
            answer = await client.post(
                "/wallet/checkout",
                data={"csrf_token": csrf_of(wallet.text), "pack_id": "pack_pro"},
            )
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-store"
        assert 'href="https://checkout.stripe.test/pay/cs_dash_1"' in answer.text
        sent = parse_qs(route.calls.last.request.content.decode())
        # Stripe returns the payer through the gateway, which looks the order up and then
        # sends them on to the wallet (the order's own success_url).
        assert sent["success_url"] == [
            f"{PUBLIC_BASE}/api/public/v1/billing/checkout/return?session_id={{CHECKOUT_SESSION_ID}}"
        ]
        assert sent["cancel_url"] == [f"{PUBLIC_BASE}/dashboard/wallet?notice=cancelled"]
        history = _table((await client.get(WALLET)).text, "history")
        assert "Pro pack" in history and "pending" in history
