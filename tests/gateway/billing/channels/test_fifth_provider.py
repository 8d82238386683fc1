"""A fifth provider: a made-up channel (a module in ``tests/fixtures/acme_pay.py`` and one
registry line, ``providers.registered``) is set up by the operator, offered to merchants, paid
through its notification, refused when forged, stale, changed or another's, reconciled when
its notification is lost, and stood in for by the sandbox in staging, with no other change to
the product."""

import hashlib
import hmac
import time
from datetime import timedelta
from typing import Any, ClassVar

import httpx
from sqlalchemy import select

from gateway.billing.channels import registry as providers
from gateway.billing.channels.registry import (
    Ack,
    Context,
    Inbound,
    Notice,
    NoticeRefused,
    Opened,
    PaymentRequest,
)
from gateway.billing.settling import reconcile
from gateway.store.engine import Database
from gateway.store.models import PaymentChannel, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from tests.fixtures import channels
from tests.fixtures.acme_pay import ACME, API_KEY, WEBHOOK_SECRET, AcmePay, AcmeStandIn, signed
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced

WEBHOOK = f"/payment/webhook/{ACME}"


async def _enable(
    admin: httpx.AsyncClient, stand_in: AcmeStandIn, env: str = "live", **more: Any
) -> dict[str, Any]:
    credentials = {
        "api_key": API_KEY,
        "webhook_secret": WEBHOOK_SECRET,
        "api_base": stand_in.url,
        "currency": None,
        "rate": None,
        "exponent": 2,
        **more,
    }
    return await channels.enable(
        admin, ACME, credentials, env=env, secrets=(API_KEY, WEBHOOK_SECRET)
    )


async def test_a_made_up_channel_is_offered_paid_once_and_refused_when_forged(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    acme_pay: AcmeStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    api = billing_client
    saved = await _enable(admin_client, acme_pay)
    live = next(e for e in saved["envs"] if e["env"] == "live")
    assert live["enabled"] and live["configured"]
    assert live["credentials"]["api_key"] == "********"
    assert live["credentials"]["api_base"] == acme_pay.url
    listed = await admin_client.get("/billing/channels")
    assert ACME in {c["channel"] for c in listed.json()["data"]}
    assert API_KEY not in listed.text

    merchant = await make_merchant("live")
    info = (await api.get("/billing/topup-info", headers=merchant.headers)).json()["data"]
    assert ACME in info["providers"]
    offered = {c["channel"]: c for c in info["channels"]}
    assert offered[ACME]["title"] == "Acme Pay" and offered[ACME]["through"] == ACME

    made = await channels.checkout(api, merchant, ACME)
    assert (made["provider"], made["channel"]) == (ACME, ACME)
    assert made["checkout_url"].startswith(f"{acme_pay.url}/pay/")
    payment_id = made["checkout_url"].rsplit("/", 1)[1]
    assert acme_pay.payments[payment_id]["reference"] == made["order_id"]

    # Forged, stale, and unsigned: refused, nothing credited.
    acme_pay.pay(payment_id)
    body = acme_pay.event(payment_id)
    for headers in (
        signed(body, secret="not-the-secret"),
        signed(body, at=int(time.time()) - 3600),
        {"content-type": "application/json"},
    ):
        reply = await api.post(WEBHOOK, content=body, headers=headers)
        assert (reply.status_code, reply.json()["code"]) == (400, 4404), reply.text
        assert "Traceback" not in reply.text
    assert await channels.balance(api, merchant) == 0

    # Paid: credited once, however often the provider says so.
    for _ in range(2):
        reply = await api.post(WEBHOOK, content=body, headers=signed(body))
        assert reply.status_code == 200 and reply.json() == {"received": True}
    assert await channels.balance(api, merchant) == made["credit_cents"]
    order = await channels.order(api, merchant, made["order_id"])
    assert (order["status"], order["provider_status"]) == ("completed", "paid")
    assert order["provider_payment_id"] == payment_id
    paid = await channels.paid_once(
        db, merchant.merchant_id, made["order_id"], made["credit_cents"]
    )
    assert (paid["channel"], paid["provider"]) == (ACME, ACME)

    # An amount changed on the way, signed: the order is left for an operator, uncredited.
    second = await channels.checkout(api, merchant, ACME)
    changed_id = second["checkout_url"].rsplit("/", 1)[1]
    acme_pay.pay(changed_id)["amount"] += 1
    body = acme_pay.event(changed_id)
    reply = await api.post(WEBHOOK, content=body, headers=signed(body))
    assert reply.status_code == 200
    assert (await channels.order(api, merchant, second["order_id"]))["status"] == "pending"
    assert await channels.balance(api, merchant) == made["credit_cents"]

    # A notice naming another channel's order changes nothing.
    other = await make_merchant("staging")
    sandboxed = await api.post(
        "/billing/checkout", json={"pack_id": "pack_starter"}, headers=other.headers
    )
    acme_pay.payments[changed_id]["reference"] = sandboxed.json()["data"]["order_id"]
    body = acme_pay.event(changed_id)
    reply = await api.post(WEBHOOK, content=body, headers=signed(body))
    assert (reply.status_code, reply.json()["code"]) == (409, 4407)
    await assert_ledger_balanced(db)


async def test_a_lost_notification_is_found_by_reconciliation(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    acme_pay: AcmeStandIn,
    make_merchant: MakeMerchant,
    db: Database,
    billing_settings: Settings,
) -> None:
    api = billing_client
    await _enable(admin_client, acme_pay)
    merchant = await make_merchant("live")
    made = await channels.checkout(api, merchant, ACME)
    acme_pay.pay(made["checkout_url"].rsplit("/", 1)[1])

    later = utcnow() + timedelta(seconds=billing_settings.reconcile_after_seconds + 1)
    assert made["order_id"] in await reconcile.due(db, billing_settings, later)
    checked = await reconcile.check(db, billing_settings, made["order_id"])
    assert (checked.settlement.result, checked.looked and checked.looked.state) == (
        "credited",
        "paid",
    )
    again = await reconcile.check(db, billing_settings, made["order_id"], pending_only=False)
    assert again.settlement.result == "already_completed"
    assert await channels.balance(api, merchant) == made["credit_cents"]
    await channels.paid_once(db, merchant.merchant_id, made["order_id"], made["credit_cents"])


async def test_staging_pays_the_channel_through_the_sandbox_and_a_disabled_one_is_refused(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    acme_pay: AcmeStandIn,
    make_merchant: MakeMerchant,
) -> None:
    api = billing_client
    merchant = await make_merchant("staging")
    await channels.enable(admin_client, ACME, env="staging")
    info = (await api.get("/billing/topup-info", headers=merchant.headers)).json()["data"]
    assert info["providers"] == ["sandbox"]
    assert {"channel": ACME, "through": "sandbox"}.items() <= next(
        c for c in info["channels"] if c["channel"] == ACME
    ).items()

    made = await channels.checkout(api, merchant, ACME)
    assert "Acme Pay" in await channels.sandbox_page(api, made, ACME)
    assert acme_pay.payments == {}  # staging never reached the provider
    # The seed's payment session names the channel as the checkout does.
    session = {"channel": ACME, "type": "topup", "pack_id": "pack_starter"}
    reply = await api.post("/payment/create-session", json=session, headers=merchant.headers)
    assert reply.status_code == 201, reply.text
    assert reply.json()["data"]["channel"] == "sandbox"

    reply = await admin_client.put(f"/billing/channels/{ACME}/staging", json={"enabled": False})
    assert reply.status_code == 200
    body = {"channel": ACME, "pack_id": "pack_starter"}
    reply = await api.post("/billing/checkout", json=body, headers=merchant.headers)
    assert (reply.status_code, reply.json()["code"]) == (422, 4400)
    body["channel"] = "nowhere"
    reply = await api.post("/billing/checkout", json=body, headers=merchant.headers)
    assert (reply.status_code, reply.json()["code"]) == (422, 4324)


async def test_a_channel_charging_in_its_own_currency_records_what_was_paid_and_credited(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    acme_pay: AcmeStandIn,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    api = billing_client
    await _enable(admin_client, acme_pay, currency="KWD", rate="0.3075", exponent=3)
    rows = table_of(PaymentChannel)
    async with db.read() as conn:
        sealed = (
            await conn.execute(
                select(rows.c.credentials_sealed).where(
                    rows.c.channel == ACME, rows.c.env == "live"
                )
            )
        ).scalar_one()
    assert sealed.startswith("v1:") and API_KEY not in sealed and WEBHOOK_SECRET not in sealed
    merchant = await make_merchant("live")
    made = await channels.checkout(api, merchant, ACME)
    order = await channels.order(api, merchant, made["order_id"])
    # $5.00 at 0.3075 KWD a dollar: 1.5375 KWD, 1538 fils (three decimals).
    assert (order["charge_minor"], order["charge_currency"], order["charge_rate"]) == (
        1538,
        "KWD",
        "0.3075",
    )
    assert (order["amount_cents"], order["currency"]) == (500, "USD")

    payment_id = made["checkout_url"].rsplit("/", 1)[1]
    acme_pay.pay(payment_id)
    body = acme_pay.event(payment_id)
    # The same notification five times at once: credited once, on either store.
    await channels.sent_at_once(5, lambda: api.post(WEBHOOK, content=body, headers=signed(body)))
    assert await channels.balance(api, merchant) == made["credit_cents"]
    assert (await channels.order(api, merchant, made["order_id"]))["status"] == "completed"
    paid = await channels.paid_once(
        db, merchant.merchant_id, made["order_id"], made["credit_cents"]
    )
    assert (paid["charge_minor"], paid["charge_currency"], paid["charge_rate"]) == (
        1538,
        "KWD",
        "0.3075",
    )
    await assert_ledger_balanced(db)


async def test_notifications_are_bounded_and_take_only_the_channel_s_methods(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    acme_pay: AcmeStandIn,
) -> None:
    await _enable(admin_client, acme_pay)
    reply = await billing_client.get(f"{WEBHOOK}?id=1")
    assert (reply.status_code, reply.json()["code"]) == (405, 3008)
    big = b"{" + b" " * (64 * 1024) + b"}"
    reply = await billing_client.post(WEBHOOK, content=big, headers=signed(big))
    assert (reply.status_code, reply.json()["code"]) == (413, 3004)
    reply = await billing_client.post("/payment/webhook/nowhere", content=b"{}")
    assert (reply.status_code, reply.json()["code"]) == (422, 4324)
    # Signed, but not an event: refused after the signature, as malformed.
    for body in (b"not json", b'{"id": "evt_1", "type": "payment.paid", "payment": {}}'):
        reply = await billing_client.post(WEBHOOK, content=body, headers=signed(body))
        assert (reply.status_code, reply.json()["code"]) == (400, 4405)


class _AcmeByQuery(AcmePay):
    """Acme Pay notifying as Epay does: a GET whose query carries the fields and their
    signature (HMAC-SHA256 of the sorted ``name=value`` pairs), answered with ``success``."""

    name: ClassVar[str] = "acme_query"
    title: ClassVar[str] = "Acme by query"
    notify_methods: ClassVar[frozenset[str]] = frozenset({"GET", "POST"})

    def verify(self, ctx: Context[Any], inbound: Inbound) -> None:
        fields = sorted((k, v) for k, v in inbound.query.items() if k != "sign")
        text = "&".join(f"{k}={v}" for k, v in fields).encode()
        key = ctx.credentials.webhook_secret.get_secret_value().encode()
        expected = hmac.new(key, text, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, inbound.query.get("sign", "")):
            raise NoticeRefused("sign does not match")

    def parse(self, ctx: Context[Any], inbound: Inbound) -> Notice:
        q = inbound.query
        return Notice(
            event_id=f"{q['trade_no']}:{q['trade_status']}",
            state="paid" if q["trade_status"] == "TRADE_SUCCESS" else "ignored",
            order_id=q["out_trade_no"],
            kind=q["trade_status"],
            session_id=q["trade_no"],
            payment_id=q["trade_no"],
            amount_minor=int(q["money"]),
            currency="USD",
        )

    def ack(self, notice: Notice) -> Ack:
        return Ack(b"success")


async def test_a_channel_may_notify_by_query_string_and_be_answered_in_its_words(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    acme_pay: AcmeStandIn,
    make_merchant: MakeMerchant,
) -> None:
    api = billing_client
    with providers.registered(_AcmeByQuery()):
        credentials = {
            "api_key": API_KEY,
            "webhook_secret": WEBHOOK_SECRET,
            "api_base": acme_pay.url,
        }
        body = {"enabled": True, "credentials": credentials}
        reply = await admin_client.put("/billing/channels/acme_query/live", json=body)
        assert reply.status_code == 200, reply.text
        merchant = await make_merchant("live")
        order = {"channel": "acme_query", "pack_id": "pack_starter"}
        reply = await api.post("/billing/checkout", json=order, headers=merchant.headers)
        made = reply.json()["data"]
        payment_id = made["checkout_url"].rsplit("/", 1)[1]
        query = {
            "out_trade_no": made["order_id"],
            "trade_no": payment_id,
            "trade_status": "TRADE_SUCCESS",
            "money": str(made["amount_cents"]),
        }
        text = "&".join(f"{k}={v}" for k, v in sorted(query.items())).encode()
        sign = hmac.new(WEBHOOK_SECRET.encode(), text, hashlib.sha256).hexdigest()
        reply = await api.get("/payment/webhook/acme_query", params={**query, "sign": "0" * 64})
        assert (reply.status_code, reply.json()["code"]) == (400, 4404)
        for _ in range(2):
            reply = await api.get("/payment/webhook/acme_query", params={**query, "sign": sign})
            assert (reply.status_code, reply.text) == (200, "success")
        assert await channels.balance(api, merchant) == made["credit_cents"]


class _AcmeMisread(AcmePay):
    """A provider module that cannot read its provider's answer."""

    name: ClassVar[str] = "acme_misread"

    async def open(self, ctx: Context[Any], req: PaymentRequest) -> Opened:
        raise KeyError("url")


async def test_a_provider_answer_its_module_cannot_read_is_the_provider_s_error(
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    acme_pay: AcmeStandIn,
    make_merchant: MakeMerchant,
) -> None:
    with providers.registered(_AcmeMisread()):
        secrets = {"api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET}
        body = {"enabled": True, "credentials": {**secrets, "api_base": acme_pay.url}}
        reply = await admin_client.put("/billing/channels/acme_misread/live", json=body)
        assert reply.status_code == 200, reply.text
        merchant = await make_merchant("live")
        order = {"channel": "acme_misread", "pack_id": "pack_starter"}
        reply = await billing_client.post("/billing/checkout", json=order, headers=merchant.headers)
        assert (reply.status_code, reply.json()["code"]) == (502, 4107)
        history = await billing_client.get("/billing/history", headers=merchant.headers)
        assert history.json()["data"] == []  # no order written
