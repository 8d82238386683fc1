"""Say less: every reply that carries a secret is kept by no cache, and a staging voucher looks
like one."""

import re

import httpx

from gateway.app import create_app
from gateway.ops.openapi import api_routes, build
from gateway.values.settings import Settings
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.openapi import reply_of

# What a reply model calls the secrets it carries.
SECRET_FIELDS = {"voucher_code", "secret", "key", "codes", "checkout_url", "client_secret"}
# Every route whose reply carries a secret; a new one is added here on purpose.
SECRET_ROUTES = {
    ("POST", "/api/public/v1/topup/send"),
    ("GET", "/api/public/v1/topup"),
    ("GET", "/api/public/v1/topup/{txn_id}"),
    ("POST", "/api/public/v1/topup/{txn_id}/cancel"),
    ("POST", "/api/public/v1/topup/{txn_id}/approve"),
    ("POST", "/api/public/v1/topup/{txn_id}/deny"),
    ("POST", "/api/public/v1/webhooks/endpoints"),
    ("POST", "/api/public/v1/webhooks/endpoints/{endpoint_id}/rotate-secret"),
    ("GET", "/api/public/v1/webhooks/inbox"),
    ("POST", "/api/public/v1/webhooks/pollers"),
    ("POST", "/api/public/v1/keys"),
    ("POST", "/api/public/v1/apps"),
    ("POST", "/api/public/v1/apps/{app_id}/rotate-secret"),
    ("POST", "/api/public/v1/billing/checkout"),
    ("GET", "/api/public/v1/billing/sandbox/checkout/{order_id}"),
    ("POST", "/api/public/v1/billing/sandbox/shared-payment-tokens"),
    ("POST", "/api/admin/v1/merchants/{id}/keys"),
    ("POST", "/api/admin/v1/merchants/{id}/users"),
    ("POST", "/api/admin/v1/redemption-codes"),
    ("GET", "/api/public/v1/emails"),
    ("GET", "/api/public/v1/emails/{mail_id}"),
    ("POST", "/api/public/v1/payment/create-session"),
    ("POST", "/api/public/v1/subscription/portal"),
    ("GET", "/api/public/v1/subscription/sandbox/{sub_id}"),
    ("GET", "/api/public/v1/subscription/sandbox/{sub_id}/portal"),
    ("POST", "/api/user/pay"),
    ("POST", "/api/public/v1/apps/me/key"),
    ("POST", "/api/public/v1/apps/me/key/rotate"),
    ("POST", "/api/public/v1/payments"),  # a payment's credential, shown once
    ("POST", "/api/public/v1/payments/fetch"),  # the seller's answer, bought for this caller
}
SEND = {"platform": "claude", "amount_cents": 100, "recipient_email": "nostore@example.com"}


def test_every_route_whose_reply_carries_a_secret_is_marked(settings: Settings) -> None:
    routes = list(api_routes(create_app(settings).routes))
    marked = {
        (method, path)
        for path, route in routes
        if route.doc.secret
        for method in (route.methods or set()) - {"HEAD"}
    }
    assert marked == SECRET_ROUTES
    for path, route in routes:
        model = route.doc.response
        if model is not None and SECRET_FIELDS & set(model.model_fields):
            assert route.doc.secret, f"{path} replies with a secret but is not marked"
    spec = build(create_app(settings).routes)
    for method, path in SECRET_ROUTES:
        operation = spec["paths"][path][method.lower()]
        replies = operation["responses"]
        said = {
            status: reply_of(spec, operation, status).get("headers", {})
            for status in replies
            if status < "400"
        }
        assert said and all("Cache-Control" in headers for headers in said.values()), path


def _no_store(reply: httpx.Response) -> bool:
    return reply.headers.get_list("cache-control") == ["no-store"]


async def test_every_secret_reply_says_no_store_and_others_do_not(
    client: httpx.AsyncClient,
    hook_client: httpx.AsyncClient,
    billing_client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
) -> None:
    merchant = await make_merchant()
    auth = merchant.headers
    sent = await client.post("/topup/send", json=SEND, headers=auth)
    txn = sent.json()["transaction_id"]
    pending = await client.post(
        "/topup/send", json={**SEND, "recipient_email": "wait+pending@example.com"}, headers=auth
    )
    endpoint = await hook_client.post(
        "/webhooks/endpoints", json={"url": "http://127.0.0.1:9/hook"}, headers=auth
    )
    endpoint_id = endpoint.json()["data"]["id"]
    checkout = await billing_client.post(
        "/billing/checkout",
        json={
            "pack_id": "pack_pro",
            "success_url": "https://merchant.example/ok",
            "cancel_url": "https://merchant.example/no",
        },
        headers=auth,
    )
    page = await billing_client.get(checkout.json()["data"]["checkout_url"])
    secret_replies = {
        "send": sent,
        "get": await client.get(f"/topup/{txn}", headers=auth),
        "list": await client.get("/topup", headers=auth),
        "cancel": await client.post(
            f"/topup/{pending.json()['transaction_id']}/cancel", headers=auth
        ),
        "endpoint": endpoint,
        "rotate": await hook_client.post(
            f"/webhooks/endpoints/{endpoint_id}/rotate-secret", headers=auth
        ),
        "checkout": checkout,
        "sandbox page": page,
        "key": await admin_client.post(
            f"/merchants/{merchant.merchant_id}/keys", json={"env": "staging"}
        ),
        "codes": await admin_client.post(
            "/redemption-codes", json={"count": 1, "amount_cents": 100, "env": "staging"}
        ),
    }
    assert {name: r.status_code for name, r in secret_replies.items()} == {
        **dict.fromkeys(secret_replies, 200),
        "endpoint": 201,
        "checkout": 201,
        "key": 201,
        "codes": 201,
    }
    assert [name for name, r in secret_replies.items() if not _no_store(r)] == []
    plain = [
        await client.get("/balance", headers=auth),
        await hook_client.get("/webhooks/endpoints", headers=auth),
        await admin_client.get("/redemption-codes"),
    ]
    assert [r.status_code for r in plain] == [200, 200, 200]
    assert not any("cache-control" in r.headers for r in plain)


async def test_a_staging_voucher_is_told_apart_from_a_live_one(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    staging = await make_merchant()
    live = await make_merchant("live", balance_cents=1_000)
    vouchers = {}
    for merchant in (staging, live):
        reply = await client.post("/topup/send", json=SEND, headers=merchant.headers)
        assert reply.json()["code"] == 1001
        vouchers[merchant.env] = reply.json()["data"]["voucher_code"]
    assert re.fullmatch(r"ATU-TEST(-[2-9A-Z]{4}){3}", vouchers["staging"])
    assert re.fullmatch(r"ATU(-[2-9A-Z]{4}){3}", vouchers["live"])
