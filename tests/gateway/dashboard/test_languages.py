"""Pages and the voucher e-mail in English, Chinese and Japanese: every translated page rendered in
each language with no text left in English, and the language chosen by the one rule (the
person's setting, the merchant's for its recipients, the browser's, English)."""

import html
import re

import httpx
import pytest
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.billing.orders import DONE_PATH
from gateway.demo import DEMO_PLANS
from gateway.merchants import preferences
from gateway.store.engine import Database
from gateway.store.models import Merchant, table_of
from gateway.values import languages
from gateway.values.settings import Settings
from tests.fixtures.billing import make_staging_plan
from tests.fixtures.core import asgi_client
from tests.fixtures.dashboard import Account, SignUp, csrf_of, dashboard_client
from tests.fixtures.languages import latin_left, operator_names, shown_text, untranslated
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.oauth import REDIRECT, Flow

TRANSLATED = [each for each in languages.LANGUAGES if each != languages.DEFAULT]
SEND = {"platform": "claude", "amount_cents": 1500, "recipient_email": "dee@example.com"}


_RAW_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}\S*")


def _in(language: str, reply: httpx.Response) -> None:
    assert reply.status_code < 500, reply.text
    assert f'<html lang="{languages.html_lang(language)}">' in reply.text
    left = untranslated(reply.text, language)
    assert not left, f"{reply.request.url.path}: English left in {language}: {left}"
    latin = latin_left(reply.text)
    assert not latin, f"{reply.request.url.path}: Latin words left in {language}: {latin}"
    # A time is said in the reader's words (``when``), never as the store's ISO text.
    shown = shown_text(reply.text)
    raw = _RAW_TIME.findall(shown)
    assert not raw, f"{reply.request.url.path}: a raw time in {language}: {raw}"


def browser(app: ASGIApp, language: str | None) -> httpx.AsyncClient:
    client = dashboard_client(app)
    if language is not None:
        client.headers["Accept-Language"] = language
    return client


async def _recipient_path(client: httpx.AsyncClient, merchant: MerchantKey) -> str:
    sent = await client.post("/topup/send", json=SEND, headers=merchant.headers)
    assert sent.status_code in (200, 201), sent.text
    mails = (await client.get("/emails", headers=merchant.headers)).json()["data"]
    link: str = next(m for m in mails if m["kind"] == "voucher")["link"]
    return link.split("/dashboard", 1)[1]


async def _key_pages(owner: Account, language: str) -> None:
    """A key made through the form (its page shown once), its own page, and a refused form."""
    made = await owner.shown_once(
        "/keys", {"name": "agent", "scopes": "topup:send", "limit_daily": "50"}, page="/keys"
    )
    _in(language, made)
    listed = await owner.client.get("/keys")
    key_path = re.search(r'href="/dashboard(/keys/key_[^"]+)"', listed.text)
    assert key_path, listed.text
    _in(language, await owner.client.get(key_path.group(1)))
    refused = await owner.post("/keys", {"name": "x" * 101, "scopes": "topup:send"}, page="/keys")
    assert refused.status_code == 422, refused.text
    _in(language, refused)


async def _held_send_pages(api: httpx.AsyncClient, owner: Account, language: str) -> None:
    """A send held above its key's approval line: the inbox, its page, both confirmations, the
    send form (and what it answers), Telegram linking and a spent approval link."""
    made = await owner.shown_once(
        "/keys", {"name": "held", "scopes": "topup:send", "approval_above": "5"}, page="/keys"
    )
    key = re.search(r"ak_staging_[0-9A-Za-z]{32}", made.text)
    assert key, made.text
    by_key = {"Authorization": f"Bearer {key.group()}"}
    sent = await api.post(
        "/topup/send",
        json={"platform": "gemini", "amount_cents": 1000, "recipient_email": "h@example.com"},
        headers=by_key,
    )
    assert sent.json()["status"] == "pending_approval", sent.text
    txn = sent.json()["transaction_id"]
    under = {"platform": "claude", "amount_cents": 300, "recipient_email": "m@example.com"}
    mailed = await api.post("/topup/send", json=under, headers=by_key)
    assert mailed.status_code == 200, mailed.text
    for path in (
        "/topups/approvals",
        f"/topups/{txn}",
        f"/topups/{txn}/approve",
        f"/topups/{txn}/deny",
        "/telegram",
    ):
        _in(language, await owner.client.get(path))
    form = await owner.client.get("/topups/send")
    _in(language, form)
    attempt = re.search(r'name="attempt" value="([^"]+)"', form.text)
    key_id = re.search(r'<option value="(key_[0-9a-z]+)"', form.text)
    assert attempt and key_id, form.text
    answered = await owner.client.post(
        "/topups/send",
        data={
            "csrf_token": csrf_of(form.text),
            "attempt": attempt.group(1),
            "key_id": key_id.group(1),
            "platform": "claude",
            "amount": "nothing",
            "recipient_email": "h@example.com",
        },
    )
    assert answered.status_code == 422, answered.text
    _in(language, answered)
    # The key the form makes for a merchant with none that may send: named in the reader's
    # words, on its own page and in the form's list.
    made = await owner.post("/topups/send/key", {}, page="/topups/send")
    assert made.status_code == 303, made.text
    sender = made.headers["location"].rsplit("?key=", 1)[-1]
    for path in (f"/keys/{sender}", made.headers["location"].removeprefix("/dashboard")):
        _in(language, await owner.client.get(path))


async def _frozen_send(owner: Account, language: str) -> None:
    """A send from the form while the environment is frozen: the refusal's own sentence."""
    form = await owner.client.get("/topups/send")
    attempt = re.search(r'name="attempt" value="([^"]+)"', form.text)
    key_id = re.search(r'<option value="(key_[0-9a-z]+)"', form.text)
    assert attempt and key_id, form.text
    refused = await owner.client.post(
        "/topups/send",
        data={
            "csrf_token": csrf_of(form.text),
            "attempt": attempt.group(1),
            "key_id": key_id.group(1),
            "platform": "claude",
            "amount": "1",
            "recipient_email": "f@example.com",
        },
    )
    assert refused.status_code == 423 and 'id="frozen-help"' in refused.text, refused.text
    _in(language, refused)


async def _budget_and_freeze_pages(owner: Account, language: str) -> None:
    """Budgets (the list, a refused form, one budget's page) and the kill switch, pulled and
    released."""
    _in(language, await owner.client.get("/budgets"))
    refused = await owner.post("/budgets", {"name": "Fleet", "limit_daily": "ten"}, page="/budgets")
    assert refused.status_code == 422, refused.text
    _in(language, refused)
    made = await owner.post("/budgets", {"name": "Fleet", "limit_daily": "10"}, page="/budgets")
    assert made.status_code == 303, made.text
    _in(language, await owner.client.get(made.headers["location"].removeprefix("/dashboard")))
    _in(language, await owner.client.get("/freeze"))
    frozen = await owner.post("/freeze", {"held": "cancel"}, page="/freeze")
    assert frozen.status_code == 303, frozen.text
    _in(language, await owner.client.get(frozen.headers["location"].removeprefix("/dashboard")))
    await _frozen_send(owner, language)
    thawed = await owner.post("/freeze/off", {}, page="/freeze")
    assert thawed.status_code == 303, thawed.text
    _in(language, await owner.client.get(thawed.headers["location"].removeprefix("/dashboard")))


async def _template_pages(owner: Account, language: str) -> None:
    """Policy templates: the list, one template named by a key, and a change previewed."""
    _in(language, await owner.client.get("/keys/templates"))
    form = {"name": "support", "scopes": "topup:send", "limit_daily": "10"}
    made = await owner.post("/keys/templates", form, page="/keys/templates")
    assert made.status_code == 303, made.text
    edit = made.headers["location"].removeprefix("/dashboard")
    named = {"name": "under", "scopes": "topup:send", "template": edit.rsplit("/", 1)[1]}
    assert (await owner.post("/keys", named, page="/keys")).status_code == 303
    _in(language, await owner.client.get(edit))
    preview = await owner.post(f"{edit}/preview", {**form, "limit_daily": "5"}, page=edit)
    assert preview.status_code == 200 and 'name="previewed"' in preview.text, preview.text
    _in(language, preview)


async def _endpoint_pages(owner: Account, language: str) -> None:
    """An endpoint made through the form (its secret shown once), its page and a test event's
    delivery page."""
    home = await owner.client.get("/webhooks")
    inbox = re.search(r'<code id="inbox-url">([^<]+)</code>', home.text)
    assert inbox, home.text
    made = await owner.shown_once("/webhooks/endpoints", {"url": inbox.group(1)}, page="/webhooks")
    _in(language, made)
    endpoint = re.search(r'href="/dashboard(/webhooks/endpoints/we_[0-9a-z]+)"', made.text)
    assert endpoint, made.text
    _in(language, await owner.client.get(endpoint.group(1)))
    sent = await owner.post(endpoint.group(1) + "/test", {}, page=endpoint.group(1))
    assert sent.status_code == 303, sent.text
    _in(language, await owner.client.get(sent.headers["location"].removeprefix("/dashboard")))


async def _mail_pages(owner: Account, language: str) -> None:
    """The staging mailbox and one e-mail in it (a delivered send's voucher e-mail)."""
    box = await owner.client.get("/mail")
    _in(language, box)
    one = re.search(r'href="/dashboard(/mail/[^"]+)"', box.text)
    assert one, box.text
    _in(language, await owner.client.get(one.group(1)))


async def _app_pages(app: ASGIApp, owner: Account, language: str) -> None:
    """An app registered on the dashboard (its secret, shown once), and another app asking
    this person's consent for every scope (the consent page, with every hint it may show)."""
    shown = await owner.shown_once(
        "/apps",
        {"name": "Desk", "redirect_uris": REDIRECT, "scopes": "topup:read", "confidential": "on"},
        page="/apps",
    )
    assert "client-secret" in shown.text
    _in(language, shown)
    async with asgi_client(app, base_url="http://gateway.test") as root:
        registered = await root.post(
            "/oauth/register",
            json={
                "redirect_uris": [REDIRECT],
                "client_name": "Self Agent",
                "scope": "topup:send topup:read billing keys:manage",
                "token_endpoint_auth_method": "none",
            },
        )
    assert registered.status_code == 201, registered.text
    flow = Flow(app, registered.json()["client_id"], None)
    html, _ = await flow.consent_page(owner, scope="topup:send topup:read billing keys:manage")
    assert "consent-keys-manage" in html and "consent-charges" in html
    assert f'<html lang="{languages.html_lang(language)}">' in html
    left = untranslated(html, language)
    assert not left, f"the consent page: English left in {language}: {left}"
    # What it asks for: a list, each scope with its words in the reader's language.
    asked = re.search(r'<ul id="consent-scopes"[^>]*>(.*?)</ul>', html, re.S)
    assert asked is not None, html
    items = re.findall(r'<li data-scope="([^"]+)"><code>\1</code>: ([^<]+)</li>', asked.group(1))
    assert [scope for scope, _ in items] == ["topup:send", "topup:read", "billing", "keys:manage"]
    for scope, words in items:
        assert not latin_left(words), (scope, words)


async def _receipt_page(client: httpx.AsyncClient, owner: Account, language: str) -> None:
    """A paid order's receipt: its labels in the reader's words, the money in their locale."""
    bought = await owner.post(
        "/wallet/checkout", {"pack_id": "custom", "amount": "25"}, page="/wallet"
    )
    assert bought.status_code == 303, bought.text
    location = bought.headers["location"]
    assert (await client.post(location.replace("?", "/pay?"))).status_code == 303
    order_id = location.split("?", 1)[0].rsplit("/", 1)[-1]
    receipt = await owner.client.get(f"/wallet/orders/{order_id}/receipt")
    _in(language, receipt)
    assert f'id="paid">{languages.money_in(2500, language)}<' in receipt.text


async def _sandbox_pages(
    client: httpx.AsyncClient,
    owner: Account,
    db: Database,
    settings: Settings,
    language: str,
) -> None:
    """The sandbox's own pages, reached from the dashboard as a payer reaches them (the
    dashboard sends its reader's language on): a pack's checkout, its landing page paid and
    cancelled, the seeded plan's checkout and its billing portal; then the wallet that shows
    them (the plan's text, the ledger's and the history's kinds)."""
    bought = await owner.post("/wallet/checkout", {"pack_id": "pack_pro"}, page="/wallet")
    assert bought.status_code == 303, bought.text
    checkout = httpx.URL(bought.headers["location"])
    assert checkout.params["lang"] == language
    shown = await client.get(checkout)
    _in(language, shown)
    assert languages.money_in(2000, language) in shown.text
    done = checkout.copy_with(path=DONE_PATH, query=None)
    order_id = checkout.path.rsplit("/", 1)[-1]
    for landing in ({}, {"cancelled": "1"}):
        asked = {"order": order_id, "lang": language, **landing}
        _in(language, await client.get(done, params=asked))
    cancelled = await client.post(str(checkout).replace("?", "/cancel?"))
    assert cancelled.status_code == 303, cancelled.text
    _in(language, await client.get(done, params={"order": order_id, "lang": language}))
    _, seeded = DEMO_PLANS[0]
    plan = await make_staging_plan(db, settings, **seeded)
    _in(language, await owner.client.get("/wallet"))
    subscribing = await owner.post(
        "/wallet/subscribe", {"plan_id": plan.id, "interval": "month"}, page="/wallet"
    )
    assert subscribing.status_code == 303, subscribing.text
    sandbox = subscribing.headers["location"]
    _in(language, await client.get(sandbox))
    assert (await client.post(sandbox.replace("?", "/pay?"))).status_code == 303
    portal = await owner.post("/wallet/subscription/portal", {}, page="/wallet")
    assert portal.status_code == 303, portal.text
    _in(language, await client.get(portal.headers["location"]))
    wallet = await owner.client.get("/wallet")
    _in(language, wallet)
    # The ledger's words for the pack and the plan's period, written in English into the store,
    # read in the reader's: none left marked as English.
    assert 'lang="en"' not in wallet.text


FULFILMENT_TESTED = tuple(
    f"/fulfilment?tested=claude&{answer}"
    for answer in (
        "result=ok&provider=newapi&ms=12",
        "result=ok&provider=openrouter",
        "result=credentials_refused&provider=newapi",
        "result=limited&retry=7",
        "result=unset",
    )
)
SIGNED_IN = (
    "/",
    "/account?notice=language",
    "/account?notice=password",
    "/settings",
    "/webhooks",
    "/developers",
    "/members",
    "/topups",
    "/recipients",
    "/fulfilment",
    "/wallet",
    "/payments",
    "/keys",
    "/webhooks/deliveries",
    "/apps",
    "/apps?notice=deleted",
    "/apps/connected",
    "/go-live",
    "/oauth/code",
    *FULFILMENT_TESTED,
)
SIGNED_OUT = (
    "/sign-in",
    "/sign-in?signed-up",
    "/sign-in?password-set",
    "/sign-up",
    "/forgot-password",
    "/reset-password?token=nothing",
    "/set-password?token=nothing",
    "/oauth/consent?request=nothing",
)


@pytest.mark.parametrize("language", TRANSLATED)
async def test_every_translated_page_in_each_language_with_no_english_left(
    app: ASGIApp,
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    sign_up: SignUp,
    make_merchant: MakeMerchant,
    language: str,
) -> None:
    await operator_names(db)
    async with browser(app, language) as visitor:
        for path in SIGNED_OUT:
            _in(language, await visitor.get(path))
        form = await visitor.get("/forgot-password")
        asked = await visitor.post(
            "/forgot-password",
            data={"csrf_token": csrf_of(form.text), "email": "nobody@example.com"},
        )
        _in(language, asked)
        # Sentences written in Python: a field's error, an error page's heading and sentence.
        form = await visitor.get("/sign-up")
        refused = await visitor.post(
            "/sign-up",
            data={
                "csrf_token": csrf_of(form.text),
                "email": "not an address",
                "password": "correct horse battery",
                "merchant_name": "Shop",
            },
        )
        assert refused.status_code == 422 and "field-error" in refused.text
        _in(language, refused)
        missing = await visitor.get("/no-such-page")
        assert missing.status_code == 404
        _in(language, missing)
        stale = await visitor.post("/forgot-password", data={"csrf_token": "stale"})
        assert stale.status_code == 403
        _in(language, stale)
    # Signed up in the language: its recipients' e-mails (in the staging mailbox) are in it too.
    owner = await sign_up(language=language)
    chosen = await owner.post("/account/language", {"language": language}, page="/account")
    assert chosen.status_code == 303, chosen.text
    for path in SIGNED_IN:
        _in(language, await owner.client.get(path))
    await _key_pages(owner, language)
    await _held_send_pages(client, owner, language)
    await _budget_and_freeze_pages(owner, language)
    await _template_pages(owner, language)
    await _endpoint_pages(owner, language)
    await _mail_pages(owner, language)
    await _app_pages(app, owner, language)
    await _receipt_page(client, owner, language)
    await _sandbox_pages(client, owner, db, settings, language)
    merchant = await make_merchant("staging")
    await preferences.set_recipients_language(db, merchant.merchant_id, language)
    path = await _recipient_path(client, merchant)
    async with browser(app, language) as approver:
        # An approval link is opened from an e-mail, signed in or not: the browser's language.
        _in(language, await approver.get("/approval?token=apl_spent"))
    async with browser(app, language) as recipient:
        shown = await recipient.get(path)
        _in(language, shown)
        assert languages.money_in(1500, language) in shown.text
        token = csrf_of(shown.text)
        _in(language, await recipient.post(f"{path}/link", data={"csrf_token": token}))
        asked = await recipient.post(
            f"{path}/link", data={"csrf_token": token, "email": "dee@example.com"}
        )
        _in(language, asked)
        _in(language, await recipient.get(path[: -len("x")] + "x"))
    # The e-mails a recipient reads: the voucher and the fresh link just asked for.
    mails = (await client.get("/emails", headers=merchant.headers)).json()["data"]
    assert {m["kind"] for m in mails} == {"voucher", "recipient_link"}, mails
    for mail in mails:
        for body in (mail["subject"], mail["html"], mail["text"]):
            assert not untranslated(body, language), (mail["kind"], body)
            assert not latin_left(body), (mail["kind"], latin_left(body))


async def test_the_check_finds_english_left_in_a_page(app: ASGIApp) -> None:
    """The same pages in English: every one shows what the check looks for."""
    async with browser(app, None) as visitor:
        for path in SIGNED_OUT:
            page = await visitor.get(path)
            assert '<html lang="en">' in page.text
            assert untranslated(page.text, "ja"), path


async def test_the_persons_setting_then_the_browser_then_english(
    app: ASGIApp, sign_up: SignUp
) -> None:
    async with browser(app, "ja-JP,ja;q=0.9") as visitor:
        page = await visitor.get("/sign-in")
        assert '<html lang="ja">' in page.text and "サインイン" in page.text
        assert "Accept-Language" in page.headers["vary"]
    async with browser(app, "fr-FR") as visitor:
        assert '<html lang="en">' in (await visitor.get("/sign-in")).text
    owner = await sign_up()
    owner.client.headers["Accept-Language"] = "ja"
    assert '<html lang="ja">' in (await owner.client.get("/account")).text
    assert (await owner.post("/account/language", {"language": "zh"}, page="/account")).is_redirect
    account = await owner.client.get("/account")
    assert '<html lang="zh-Hans">' in account.text  # the person's setting beats the browser's
    assert re.search(r'<option value="zh" lang="zh" selected>', account.text)
    assert (await owner.post("/account/language", {"language": ""}, page="/account")).is_redirect
    assert '<html lang="ja">' in (await owner.client.get("/account")).text


async def test_a_language_we_do_not_speak_is_refused_and_changes_nothing(
    sign_up: SignUp,
) -> None:
    owner = await sign_up()
    assert (await owner.post("/account/language", {"language": "ja"}, page="/account")).is_redirect
    refused = await owner.post("/account/language", {"language": "fr"}, page="/account")
    assert refused.status_code == 422
    assert "Unknown language: choose en, zh or ja" in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert '<html lang="ja">' in (await owner.client.get("/account")).text
    refused = await owner.post("/settings/language", {"language": "x" * 40}, page="/settings")
    assert refused.status_code == 422
    assert "Unknown language" in refused.text


async def test_recipients_read_the_merchants_language_else_their_browsers(
    app: ASGIApp,
    client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant("staging")
    path = await _recipient_path(client, merchant)
    async with browser(app, "zh-CN") as recipient:
        assert '<html lang="zh-Hans">' in (await recipient.get(path)).text
        await preferences.set_recipients_language(db, merchant.merchant_id, "ja")
        page = await recipient.get(path)
        assert '<html lang="ja">' in page.text
        assert "発送" not in page.text and "届いた" in page.text
        # The invalid-link page of a link that names the merchant: its language too.
        assert '<html lang="ja">' in (await recipient.get(path + "x")).text


async def test_the_voucher_mail_is_in_the_merchants_language(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant, sign_up: SignUp
) -> None:
    english = await make_merchant("staging")
    chinese = await make_merchant("staging")
    await preferences.set_recipients_language(db, chinese.merchant_id, "zh")
    for merchant in (english, chinese):
        sent = await client.post("/topup/send", json=SEND, headers=merchant.headers)
        assert sent.status_code in (200, 201), sent.text
    (plain,) = (await client.get("/emails", headers=english.headers)).json()["data"]
    (mail,) = (await client.get("/emails", headers=chinese.headers)).json()["data"]
    assert "sent you $15.00 of Claude credit" in plain["subject"]
    assert mail["subject"].endswith("向你发送了 US$15.00 的 Claude 额度")
    assert '<html lang="zh-Hans">' in mail["html"] and "查看你的余额和充值" in mail["html"]
    assert "你的代金券" in mail["text"] and "Your voucher" not in mail["text"]
    assert not untranslated(mail["html"], "zh") and not untranslated(mail["text"], "zh")


async def test_the_merchant_sets_its_recipients_language_on_the_settings_page(
    sign_up: SignUp,
) -> None:
    owner = await sign_up()
    saved = await owner.post("/settings/language", {"language": "ja"}, page="/settings")
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("/settings?saved=language")
    page = await owner.client.get("/settings?saved=language")
    assert re.search(r'<option value="ja" lang="ja" selected>', page.text)
    cleared = await owner.post("/settings/language", {"language": ""}, page="/settings")
    assert cleared.status_code == 303
    page = await owner.client.get("/settings")
    assert re.search(r'<option value="" selected>', page.text)


def _switcher(page: str) -> dict[str, str]:
    """The signed-out switcher's links: language tag -> address."""
    box = re.search(r'<nav class="lang-switch"[^>]*>(.*?)</nav>', page, re.S)
    assert box is not None, "no language switcher"
    return {
        tag: html.unescape(href)
        for href, tag in re.findall(r'<a href="([^"]+)" lang="([^"]+)" hreflang="\2"', box.group(1))
    }


async def test_a_signed_out_reader_picks_the_language_and_keeps_it(
    app: ASGIApp, sign_up: SignUp
) -> None:
    """``?lang=`` beats the browser and is kept in a cookie for the next pages; a language we do
    not speak is ignored and kept nowhere; a signed-in person's setting beats the pick."""
    async with browser(app, "zh-CN") as visitor:
        first = await visitor.get("/sign-in")
        assert '<html lang="zh-Hans">' in first.text
        links = _switcher(first.text)
        assert set(links) == {"en", "zh-Hans", "ja"}
        assert 'aria-current="true">简体中文<' in first.text
        picked = await visitor.get(links["ja"].removeprefix("/dashboard"))
        assert '<html lang="ja">' in picked.text
        assert "aitopup_lang=ja" in picked.headers["set-cookie"]
        assert "Cookie" in picked.headers["vary"]
        for path in ("/sign-up", "/forgot-password", "/reset-password?token=nothing"):
            assert '<html lang="ja">' in (await visitor.get(path)).text, path
        ignored = await visitor.get("/sign-in?lang=fr")
        assert '<html lang="ja">' in ignored.text and "set-cookie" not in ignored.headers
        # Every other parameter of the page is kept: the expired consent link's, a reset's.
        expired = await visitor.get("/oauth/consent?request=nothing")
        assert _switcher(expired.text)["en"] == "/dashboard/oauth/consent?request=nothing&lang=en"
    async with browser(app, "ja") as forged:
        forged.cookies.set("aitopup_lang", "<script>", path="/dashboard")
        assert '<html lang="ja">' in (await forged.get("/sign-in")).text
    owner = await sign_up()
    assert (await owner.post("/account/language", {"language": "zh"}, page="/account")).is_redirect
    mine = await owner.client.get("/account?lang=ja")
    assert '<html lang="zh-Hans">' in mine.text
    assert 'class="lang-switch"' not in mine.text  # signed in, the Account page's setting
    assert "aitopup_lang" not in mine.headers.get("set-cookie", "")


async def test_a_recipient_picks_a_language_over_the_merchants(
    app: ASGIApp, client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    await preferences.set_recipients_language(db, merchant.merchant_id, "zh")
    path = await _recipient_path(client, merchant)
    async with browser(app, None) as recipient:
        shown = await recipient.get(path)
        assert '<html lang="zh-Hans">' in shown.text
        picked = await recipient.get(_switcher(shown.text)["ja"].removeprefix("/dashboard"))
        assert '<html lang="ja">' in picked.text
        _in("ja", picked)
        assert languages.money_in(1500, "ja") in picked.text
        assert '<html lang="ja">' in (await recipient.get(path)).text  # kept
        assert '<html lang="ja">' in (await recipient.get(path + "x")).text


async def test_a_merchant_signed_up_in_chinese_sends_its_recipients_chinese(
    client: httpx.AsyncClient, db: Database, sign_up: SignUp
) -> None:
    """Its recipients' language starts as the one its owner signed up in; signed up in English,
    each recipient's browser still chooses (as before), and the Settings page changes either."""
    chinese = await sign_up(language="zh-CN,zh;q=0.9")
    english = await sign_up(language="en-US")
    merchants = table_of(Merchant)
    for owner, expected in ((chinese, "zh"), (english, None)):
        async with db.read() as conn:
            found = select(merchants.c.language).where(merchants.c.name == owner.merchant_name)
            assert (await conn.execute(found)).scalar_one() == expected
        shown = await owner.client.get("/settings")
        assert re.search(f'<option value="{expected or ""}"[^>]* selected>', shown.text)
    keys = []
    for scope in ("topup:send", "topup:read"):
        made = await chinese.shown_once("/keys", {"name": scope, "scopes": scope}, page="/keys")
        key = re.search(r"ak_staging_[0-9A-Za-z]{32}", made.text)
        assert key, made.text
        keys.append({"Authorization": f"Bearer {key.group()}"})
    sent = await client.post("/topup/send", json=SEND, headers=keys[0])
    assert sent.status_code in (200, 201), sent.text
    (mail,) = (await client.get("/emails", headers=keys[1])).json()["data"]
    assert '<html lang="zh-Hans">' in mail["html"]
    assert "Claude 额度" in mail["subject"] and not latin_left(mail["html"])
