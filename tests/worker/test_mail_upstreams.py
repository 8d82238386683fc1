"""What an upstream's top-up tells its recipient: a New API top-up's voucher e-mail, received by
a real SMTP server (aiosmtpd), carries New API's code and how to redeem it there; an OpenRouter
recipient's page shows their key and its label, and another recipient's page of the same
merchant does not. On SQLite and PostgreSQL."""

from datetime import timedelta

import httpx

from gateway.mail.links import RecipientLink
from gateway.recipients import page
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from keys import Sealer
from tests.fixtures.core import TEST_SECRET
from tests.fixtures.mail import Inbox, html_of, settled, smtp, text_of
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.upstreams import (
    MakeUpstreamMerchant,
    NewApiStandIn,
    OpenRouterStandIn,
    send_body,
    use_newapi,
)
from tests.fixtures.workers import StartWorker

SEALER = Sealer(TEST_SECRET.encode())


async def test_a_newapi_voucher_mail_carries_its_code_and_how_to_redeem_it(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    smtp_server: Inbox,
    db: Database,
    newapi_standin: tuple[NewApiStandIn, str],
    live_reaches_loopback: None,
) -> None:
    newapi, root = newapi_standin
    await start_worker(**smtp(smtp_server))
    merchant = await make_merchant("live", balance_cents=10_000)
    await use_newapi(fulfil_client, merchant, root)
    sent = await fulfil_client.post(
        "/topup/send", json=send_body(1234, "ann@example.com"), headers=merchant.headers
    )
    assert sent.json()["code"] == 1001, sent.text
    [made] = newapi.redemptions
    [row] = await settled(db, merchant.merchant_id, "sent")
    assert row.kind == "voucher"
    [message] = smtp_server.received
    assert message["To"] == "ann@example.com"
    text, html = text_of(message), html_of(message)
    for body in (text, html):
        assert made["key"] in body
        assert f"{root}/console/topup" in body and "Redemption code" in body
        assert "$12.34" in body
        assert "/dashboard/recipient/" in body
        assert "ATU-" not in body  # New API's code, not our voucher


async def test_an_openrouter_recipients_page_shows_their_key_alone(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    openrouter_merchant: MakeUpstreamMerchant,
    db: Database,
    openrouter_standin: tuple[OpenRouterStandIn, str],
) -> None:
    openrouter, _ = openrouter_standin
    merchant = await openrouter_merchant(balance_cents=10_000)
    for email in ("ada@example.com", "bob@example.com"):
        sent = await fulfil_client.post(
            "/topup/send", json=send_body(250, email), headers=merchant.headers
        )
        assert sent.json()["code"] == 1001, sent.text
    by_name = {k["name"]: k for k in openrouter.keys.values()}
    assert len(by_name) == 2

    def link(email: str) -> RecipientLink:
        return RecipientLink(merchant.merchant_id, "staging", email, utcnow() + timedelta(hours=1))

    ada = await page.view(db, SEALER, link("ada@example.com"))
    bob = await page.view(db, SEALER, link("bob@example.com"))
    assert ada is not None and bob is not None
    [ada_key] = ada.keys
    [bob_key] = bob.keys
    assert ada_key.provider == "openrouter"
    assert ada_key.value == by_name[ada_key.label]["secret"]
    assert bob_key.value == by_name[bob_key.label]["secret"]
    assert ada_key.value != bob_key.value and ada_key.label != bob_key.label
    assert ada_key.value not in repr(bob) and ada_key.label not in repr(bob)
    assert [t.amount_cents for t in ada.topups] == [250]
    # Another merchant's page for the same address shows nothing of this one.
    other = await make_merchant("staging")
    elsewhere = await page.view(
        db,
        SEALER,
        RecipientLink(other.merchant_id, "staging", "ada@example.com", utcnow()),
    )
    assert elsewhere is not None and elsewhere.keys == [] and elsewhere.topups == []
