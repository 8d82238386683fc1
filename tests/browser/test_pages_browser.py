"""The dashboard's pages read whole at 1280 and 390 px, checked by axe at both widths: the keys
table on a phone, the key form's errors named by their labels and shown beside their fields,
identifiers shown whole and apart, a top-up's provider and reference, the approval page naming
the sending key, the staging mailbox's HTML version in a sandboxed tab, and the Developers
page's copy buttons and this gateway's own folder in its stdio configurations."""

import json
import re
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Page, expect

from gateway.accounts import users
from gateway.security_headers import MAIL_SANDBOX
from gateway.store.engine import Database
from gateway.upstreams import work
from tests.fixtures.accessibility import axe_findings
from tests.fixtures.browser import DESKTOP, PHONE, Merchant
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.upstreams import NewApiStandIn, newapi_body

_BLOCKING = {"serious", "critical"}
_CHECKOUT = Path(__file__).resolve().parents[2]
_ID = re.compile(r"(txn|dlv|evt|we)_[0-9A-Za-z]{24}(we_[0-9A-Za-z]{24})?")


async def _axe(page: Page, name: str) -> None:
    """No serious or critical axe violation at 1280 and at 390 px, and at 390 px nothing wider
    than the screen but inside a region that scrolls on its own."""
    for size in (DESKTOP, PHONE):
        await page.set_viewport_size(size)
        results = await axe_findings(page)
        found = [
            f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
            for v in results["violations"]
            if v.get("impact") in _BLOCKING
        ]
        assert not found, f"{name} at {size['width']} px: {found}"
        width = await page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= size["width"], f"{name}: {width} px wide at {size['width']} px"
    await page.set_viewport_size(DESKTOP)


async def _key(db: Database, make_merchant: MakeMerchant, merchant: Merchant) -> MerchantKey:
    """A staging key (every scope a new key gets) of the merchant signed up on the page."""
    user = await users.check_password(db, merchant.email, merchant.password)
    assert user is not None
    return await make_merchant("staging", merchant_id=user.merchant_id)


async def _send(api: httpx.AsyncClient, platform: str, cents: int, to: str) -> httpx.Response:
    body = {"platform": platform, "amount_cents": cents, "recipient_email": to}
    return await api.post("/topup/send", json=body)


async def _whole_ids(page: Page, selector: str, expected: list[str] | None = None) -> list[str]:
    """The identifiers ``selector`` finds: each whole, in a monospace element of its own whose
    whole text is the id, selectable."""
    shown: list[dict[str, Any]] = await page.locator(selector).evaluate_all(
        """els => els.map(e => ({
            text: e.textContent, tag: e.tagName, font: getComputedStyle(e).fontFamily,
            select: getComputedStyle(e).userSelect}))"""
    )
    assert shown, selector
    for one in shown:
        assert _ID.fullmatch(one["text"]), one
        assert one["tag"] == "CODE" and "mono" in one["font"].lower(), one
        assert one["select"] in ("all", "auto", "text"), one
    texts = [one["text"] for one in shown]
    for wanted in expected or ():
        assert wanted in texts, (wanted, texts)
    return texts


async def test_the_keys_table_reads_whole_on_a_phone(page: Page, signed_up: Merchant) -> None:
    await page.goto("/dashboard/keys")
    await page.get_by_label("Name").fill("checkout bot")
    await page.locator("#f-limit_daily").fill("50")
    await page.get_by_role("button", name="Make key").click()
    await expect(page.locator("#new-key")).to_be_visible()
    await page.goto("/dashboard/keys")
    await page.set_viewport_size(PHONE)
    prefix = page.locator("[data-key] code").first
    await expect(prefix).to_contain_text("ak_staging_")
    # One line: one box, no taller than a line of its text.
    lines, height, line = await prefix.evaluate(
        "e => [e.getClientRects().length, e.getBoundingClientRect().height,"
        " parseFloat(getComputedStyle(e).lineHeight)]"
    )
    assert lines == 1 and height <= line, (lines, height, line)
    # Every cell of the row is on the screen, the last column's too.
    right = await page.locator("[data-key] td").evaluate_all(
        "tds => Math.max(...tds.filter(t => t.offsetParent).map("
        "t => t.getBoundingClientRect().right))"
    )
    assert right <= PHONE["width"], right
    await expect(page.locator("[data-key]").first).to_contain_text("checkout bot")
    await expect(page.locator("[data-key]").first).to_contain_text("active")
    await _axe(page, "keys")


async def _errors_named_and_beside(page: Page) -> None:
    """Each error in the list names its field by the field's label, and says so again beside
    the field, which points to it."""
    alert = page.get_by_role("alert")
    await expect(alert).to_be_visible()
    assert "limit_" not in await alert.inner_text()
    items: list[dict[str, Any]] = await alert.locator("li").evaluate_all(
        """lis => lis.map(li => {
            const a = li.querySelector("a");
            const field = document.getElementById(a.getAttribute("href").slice(1));
            const label = field.labels && field.labels.length ? field.labels[0]
                : (field.querySelector("legend") || null);
            const named = label ? label.textContent : field.getAttribute("aria-label");
            const said = (field.getAttribute("aria-describedby") || "").split(" ")
                .map(id => document.getElementById(id)).filter(Boolean)
                .map(e => e.textContent.trim());
            return {link: a.textContent, text: li.textContent, named: named.trim(), said,
                    invalid: field.getAttribute("aria-invalid"), tag: field.tagName};
        })"""
    )
    assert len(items) >= 2, items
    for item in items:
        message = item["text"].removeprefix(item["link"] + ": ").strip()
        assert item["named"].startswith(item["link"]), item
        assert message in item["said"], item
        if item["tag"] in ("INPUT", "SELECT", "TEXTAREA"):
            assert item["invalid"] == "true", item
    await _axe(page, "key-form-errors")


async def test_the_key_forms_name_each_error_by_its_label_and_beside_its_field(
    page: Page, signed_up: Merchant
) -> None:
    await page.goto("/dashboard/keys")
    await page.get_by_label("Name").fill("typo")
    await page.locator("#f-limit_daily").fill("a lot")
    await page.locator("#f-max_per_send").fill("12.345")
    await page.get_by_role("button", name="Make key").click()
    await _errors_named_and_beside(page)
    alert = await page.get_by_role("alert").inner_text()
    assert "Daily limit: Enter an amount" in alert and "Most per send: Enter" in alert
    await expect(page.locator("#f-limit_daily")).to_have_value("a lot")

    await page.get_by_label("Name").fill("good")
    await page.locator("#f-limit_daily").fill("")
    await page.locator("#f-max_per_send").fill("")
    await page.get_by_role("button", name="Make key").click()
    await expect(page.locator("#new-key")).to_be_visible()
    await page.goto("/dashboard/keys")
    await page.locator("[data-key] a").first.click()
    await page.locator("#f-limit_all_time").fill("nope")
    await page.locator("#f-rate_limit_per_minute").fill("many")
    await page.get_by_role("button", name="Save policy").click()
    await _errors_named_and_beside(page)
    alert = await page.get_by_role("alert").inner_text()
    assert "All time limit: Enter an amount" in alert and "Requests a minute:" in alert


async def test_top_ups_approvals_and_deliveries_show_their_ids_whole_and_the_upstream(
    page: Page,
    signed_up: Merchant,
    gateway_url: str,
    db: Database,
    make_merchant: MakeMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    _, root = newapi_standin
    merchant = await _key(db, make_merchant, signed_up)
    # A key named on the page holds sends above $5 for approval.
    await page.goto("/dashboard/keys")
    await page.get_by_label("Name").fill("checkout bot")
    await page.locator("#f-approval_above").fill("5")
    await page.get_by_role("button", name="Make key").click()
    held_key = (await page.locator("#new-key").inner_text()).strip()

    api_root = f"{gateway_url}/api/public/v1"
    async with local_client(base_url=api_root, headers=merchant.headers) as api:
        made = await api.post("/webhooks/endpoints", json={"url": "http://127.0.0.1:1/hook"})
        assert made.status_code in (200, 201), made.text
        endpoint = made.json()["data"]["id"]
        saved = await api.put("/fulfilment/claude", json=newapi_body(root))
        assert saved.status_code == 200, saved.text
        sent = await _send(api, "claude", 300, "ada@example.com")
        assert sent.status_code == 200, sent.text
        upstream_txn = sent.json()["transaction_id"]
        assert sent.json()["data"]["fulfilment"]["provider"] == "newapi"
    held_headers = {"Authorization": f"Bearer {held_key}"}
    async with local_client(base_url=api_root, headers=held_headers) as api:
        held = await _send(api, "chatgpt", 900, "bo@example.com")
        assert held.status_code == 202, held.text
        held_txn = held.json()["transaction_id"]

    # The top-up fulfilled upstream: its provider and our reference there.
    await page.goto(f"/dashboard/topups/{upstream_txn}")
    await expect(page.locator("#provider")).to_have_text("newapi")
    await expect(page.locator("#fulfilment-reference")).to_have_text(work.reference(upstream_txn))
    await _whole_ids(page, "#topup-id", [upstream_txn])
    await _axe(page, "topup-upstream")

    await page.goto("/dashboard/topups")
    await _whole_ids(page, "[data-topup] code.id", [upstream_txn, held_txn])
    await _axe(page, "topups")

    await page.goto("/dashboard/topups/approvals")
    await _whole_ids(page, "[data-topup] code.id", [held_txn])
    await _axe(page, "approvals")
    await page.get_by_role("link", name=re.compile("^Approve")).first.click()
    await expect(page.locator("#sent-by")).to_contain_text("checkout bot")
    await expect(page.locator("#sent-by code")).to_contain_text("ak_staging_")
    await _whole_ids(page, "dd > code.id", [held_txn])
    await _axe(page, "approve")
    await page.goto(f"/dashboard/topups/{held_txn}")
    await expect(page.locator("#sent-by")).to_contain_text("checkout bot")

    await page.goto("/dashboard/webhooks")
    await _whole_ids(page, ".deliveries code.id")
    await _axe(page, "webhooks")
    await page.goto("/dashboard/webhooks/deliveries")
    delivery_ids = await _whole_ids(page, ".deliveries code.id")
    assert all(d.startswith("dlv_") and endpoint in d for d in delivery_ids), delivery_ids
    assert "…" not in await page.locator(".deliveries").inner_text()
    await _axe(page, "deliveries")
    await page.goto(f"/dashboard/webhooks/deliveries/{delivery_ids[0]}")
    await _whole_ids(page, "#delivery-id", [delivery_ids[0]])
    await _whole_ids(page, "#endpoint-id", [endpoint])
    events = await _whole_ids(page, "#event-id")
    assert events[0].startswith("evt_")
    await _axe(page, "delivery")
    await page.goto(f"/dashboard/webhooks/endpoints/{endpoint}")
    await _whole_ids(page, "#endpoint-id", [endpoint])
    await _axe(page, "endpoint")


async def test_the_staging_mailbox_opens_the_html_version_sandboxed_beside_the_text(
    page: Page,
    signed_up: Merchant,
    gateway_url: str,
    db: Database,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await _key(db, make_merchant, signed_up)
    async with local_client(
        base_url=f"{gateway_url}/api/public/v1", headers=merchant.headers
    ) as api:
        body = {
            "platform": "claude",
            "amount_cents": 700,
            "recipient_email": "cy@example.com",
        }
        sent = await api.post("/topup/send", json=body)
        assert sent.status_code == 200, sent.text
    await page.goto("/dashboard/mail")
    await page.locator("[data-mail] a").first.click()
    link = page.get_by_role("link", name="Open the HTML")
    await expect(page.locator("iframe")).to_have_count(0)
    href = await link.get_attribute("href")
    assert href is not None
    # The text beside the link, at desktop width.
    text = (await page.locator("#mail-text").inner_text()).strip()
    plain, opener = await page.locator("#mail-text").bounding_box(), await link.bounding_box()
    assert opener is not None and plain is not None and text
    assert plain["x"] + plain["width"] <= opener["x"] and abs(opener["y"] - plain["y"]) < 120
    # Its tab shows the mail as the recipient's client would, with its voucher.
    async with page.context.expect_page() as opened:
        await link.click()
    tab = await opened.value
    await expect(tab.locator("body")).to_contain_text(re.compile(r"\$7\.00"))
    await tab.close()
    # Served on its own with a policy that sandboxes it, runs and loads nothing, and lets nobody
    # frame it.
    alone = await page.request.get(href)
    assert alone.status == 200
    policy = alone.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'none'", "frame-ancestors 'none'"):
        assert directive in policy, policy
    assert f"sandbox {MAIL_SANDBOX}" in policy.split("; ")
    assert alone.headers["x-frame-options"] == "DENY"
    assert alone.headers["cache-control"] == "no-store"
    # The mail page itself is framed by nobody.
    assert (await page.request.get(page.url)).headers["x-frame-options"] == "DENY"
    await _axe(page, "mail")


async def test_the_developers_page_copies_each_block_and_names_this_gateways_folder(
    page: Page, signed_up: Merchant
) -> None:
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.goto("/dashboard/developers")
    blocks = page.locator("pre code")
    buttons = page.get_by_role("button", name=re.compile("^Copy "))
    assert await buttons.count() == await blocks.count() >= 9
    await page.get_by_role("button", name="Copy the send command").click()
    await expect(page.get_by_role("button", name="Copied the send command")).to_be_visible()
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied == (await page.locator("#code-send").text_content() or "").strip()
    assert copied.startswith("curl -X POST")

    stdio = page.locator('[data-mcp="Claude Code-stdio"]')
    config = json.loads(await stdio.inner_text())
    assert config["mcpServers"]["aitopup"]["env"]["AITOPUP_DIR"] == str(_CHECKOUT)
    assert "/path/to/" not in await page.locator("main").inner_text()
    last = page.locator("[data-copy]").last
    await last.click()
    await expect(last).to_have_attribute("data-copied", "")
    await expect(last).to_contain_text("Copied")
    pasted = json.loads(await page.evaluate("navigator.clipboard.readText()"))
    assert pasted["mcpServers"]["aitopup"]["env"]["AITOPUP_DIR"] == str(_CHECKOUT)
    await _axe(page, "developers")
