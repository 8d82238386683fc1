"""A staging e-mail's HTML version: served alone, a page its mail's page links to (in a new tab,
never a frame), under a policy that sandboxes it, runs and loads nothing and lets nobody frame
it, its links opening tabs of their own; the merchant's own mail only."""

import httpx

from gateway.dashboard.mailbox import HTML_PREFIX
from gateway.security_headers import MAIL_SANDBOX, frame_options_for, policy_for
from gateway.store.engine import Database
from tests.fixtures.dashboard import SignUp
from tests.fixtures.mail_pages import SEND, key_of
from tests.fixtures.merchants import MakeMerchant


def test_the_mail_html_runs_nothing_and_nobody_frames_it() -> None:
    framed = "/dashboard" + HTML_PREFIX + "/mail_000000000000000000000000"
    policy = policy_for(framed).split("; ")
    for directive in (
        "default-src 'none'",
        "script-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data:",
        "connect-src 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        f"sandbox {MAIL_SANDBOX}",
    ):
        assert directive in policy, policy
    # Its buttons open tabs of their own; it never runs a script, nor reaches the dashboard's
    # cookies, nor moves the dashboard's page.
    assert MAIL_SANDBOX.split() == ["allow-popups", "allow-popups-to-escape-sandbox"]
    for path in (framed, "/dashboard/mail", "/dashboard/mail/x", "/dashboard/mail-htmlx", "/docs"):
        assert "frame-ancestors 'none'" in policy_for(path).split("; ")
        assert frame_options_for(path) == b"DENY"


async def test_the_html_version_is_the_merchants_own_mail(
    sign_up: SignUp, client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    account = await sign_up()
    key = await key_of(db, account, make_merchant)
    sent = await client.post("/topup/send", json=SEND, headers=key.headers)
    voucher = sent.json()["data"]["voucher_code"]
    listing = await account.client.get("/mail")
    [mail_id] = [part.split('"')[0] for part in listing.text.split('data-mail="')[1:]]
    page = await account.client.get(f"/mail/{mail_id}")
    # A link to it, opening a tab of its own; no frame of it on the mail's page.
    opens = f'href="/dashboard{HTML_PREFIX}/{mail_id}" target="_blank" rel="noopener noreferrer"'
    assert opens in page.text
    assert "<iframe" not in page.text
    shown = await account.client.get(f"{HTML_PREFIX}/{mail_id}")
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/html")
    assert voucher in shown.text
    # Its links open a tab of their own (framed, the dashboard's policy would refuse them).
    head = shown.text.split("<head>", 1)[1].split("</head>", 1)[0]
    assert head.startswith('<base target="_blank">') and shown.text.count("<base") == 1
    assert shown.headers["cache-control"] == "no-store"
    assert shown.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in shown.headers["content-security-policy"]
    assert f"sandbox {MAIL_SANDBOX}" in shown.headers["content-security-policy"].split("; ")
    # Another merchant's owner, a made-up id, a malformed one: not found.
    other = await sign_up()
    assert (await other.client.get(f"{HTML_PREFIX}/{mail_id}")).status_code == 404
    missing = f"{HTML_PREFIX}/mail_000000000000000000000000"
    assert (await account.client.get(missing)).status_code == 404
    assert (await account.client.get(f"{HTML_PREFIX}/nope")).status_code == 404
