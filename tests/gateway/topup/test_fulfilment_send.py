"""A send through an upstream: money first, network after; 1001 when the upstream answers in
time, the code redeemable once at the stand-in; a 401 fails at once with a clear reason;
``reveal_voucher`` decides whether the reply carries the code."""

import json
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import Fulfilment
from gateway.topup import fulfilling
from gateway.upstreams import work
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced, merchant_balance
from tests.fixtures.upstreams import (
    MakeUpstreamMerchant,
    NewApiStandIn,
    OpenRouterStandIn,
    send_body,
)
from tests.fixtures.webhooks import events_of


async def test_newapi_code_delivered_inline_and_redeemable_once(
    fulfil_client: httpx.AsyncClient,
    newapi_merchant: MakeUpstreamMerchant,
    db: Database,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    newapi, root = newapi_standin
    merchant = await newapi_merchant()
    sent = await fulfil_client.post("/topup/send", json=send_body(250), headers=merchant.headers)
    assert sent.status_code == 200, sent.text
    body = sent.json()
    assert (body["code"], body["status"]) == (1001, "delivered")
    txn = body["transaction_id"]
    data = body["data"]
    assert data["fulfilment"]["provider"] == "newapi"
    assert data["new_balance_cents"] == 250  # the recipient's wallet, credited in the record
    assert data["wallet_balance_cents"] == await merchant_balance(db, merchant)  # the merchant's
    reference = data["fulfilment"]["reference"]
    assert len(reference) <= 20 and txn.removeprefix("txn_").startswith(reference)
    # A key made without a policy reveals the code.
    [made] = newapi.redemptions
    assert data["voucher_code"] == made["key"]
    assert (made["name"], made["quota"], made["expired_time"]) == (reference, 250 * 5_000, 0)

    user, token = newapi.add_user()
    redeem = {"Authorization": token, "New-Api-User": str(user)}
    async with local_client(base_url=root) as far:
        first = await far.post("/api/user/topup", json={"key": made["key"]}, headers=redeem)
        assert first.json() == {"success": True, "message": "", "data": 250 * 5_000}
        again = await far.post("/api/user/topup", json={"key": made["key"]}, headers=redeem)
        assert again.json()["success"] is False
    assert newapi.users[user]["quota"] == 250 * 5_000

    [delivered] = await events_of(db, merchant.merchant_id, "topup.delivered")
    assert delivered["data"]["fulfilment"] == {"provider": "newapi", "reference": reference}
    assert made["key"] not in json.dumps(delivered)
    shown = await fulfil_client.get(f"/topup/{txn}", headers=merchant.headers)
    assert shown.json()["data"]["status"] == "delivered"
    await assert_ledger_balanced(db)


async def test_a_policy_key_gets_no_code_unless_it_reveals(
    fulfil_client: httpx.AsyncClient,
    newapi_merchant: MakeUpstreamMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    newapi, _ = newapi_standin
    merchant = await newapi_merchant()
    keys = {}
    for name, policy in [
        ("hidden", {"scopes": ["topup:send", "topup:read"]}),
        ("shown", {"scopes": ["topup:send", "topup:read"], "reveal_voucher": True}),
    ]:
        made = await fulfil_client.post(
            "/keys", json={"name": name, "policy": policy}, headers=merchant.headers
        )
        assert made.status_code == 201, made.text
        keys[name] = {"Authorization": f"Bearer {made.json()['data']['key']}"}
    hidden = await fulfil_client.post("/topup/send", json=send_body(100), headers=keys["hidden"])
    assert hidden.json()["code"] == 1001
    assert hidden.json()["data"]["voucher_code"] is None
    assert newapi.redemptions[0]["key"] not in hidden.text
    txn = hidden.json()["transaction_id"]
    read = await fulfil_client.get(f"/topup/{txn}", headers=keys["hidden"])
    assert read.json()["data"]["voucher_code"] is None
    listed = await fulfil_client.get("/topup", headers=keys["hidden"])
    assert newapi.redemptions[0]["key"] not in listed.text

    shown = await fulfil_client.post("/topup/send", json=send_body(100), headers=keys["shown"])
    assert shown.json()["data"]["voucher_code"] == newapi.redemptions[1]["key"]


async def test_a_401_fails_at_once_refunded_with_a_clear_reason(
    fulfil_client: httpx.AsyncClient,
    newapi_merchant: MakeUpstreamMerchant,
    db: Database,
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    newapi, _ = newapi_standin
    merchant = await newapi_merchant(balance_cents=10_000, token="revoked-token")
    sent = await fulfil_client.post("/topup/send", json=send_body(700), headers=merchant.headers)
    body = sent.json()
    assert (sent.status_code, body["code"], body["status"]) == (402, 4004, "failed"), sent.text
    assert "New API refused the credentials" in body["message"]
    assert newapi.redemptions == []
    balance = await fulfil_client.get("/balance", headers=merchant.headers)
    assert balance.json()["data"]["balance_cents"] == 10_000
    assert balance.json()["data"]["held_cents"] == 0
    [failed] = await events_of(db, merchant.merchant_id, "topup.failed")
    assert failed["data"]["failure_reason"] == "failed upstream: New API refused the credentials"
    async with db.read() as conn:
        work = (
            await conn.execute(
                select(Fulfilment).where(Fulfilment.topup_id == body["transaction_id"])
            )
        ).one()
    assert (work.status, work.attempts) == ("failed", 1)
    await assert_ledger_balanced(db)


async def test_openrouter_key_made_once_and_its_limit_is_the_total(
    fulfil_client: httpx.AsyncClient,
    openrouter_merchant: MakeUpstreamMerchant,
    db: Database,
    openrouter_standin: tuple[OpenRouterStandIn, str],
) -> None:
    openrouter, _ = openrouter_standin
    merchant = await openrouter_merchant()
    for cents, balance in ((120, 120), (380, 500)):
        sent = await fulfil_client.post(
            "/topup/send", json=send_body(cents), headers=merchant.headers
        )
        assert sent.json()["code"] == 1001, sent.text
        assert sent.json()["data"]["voucher_code"].startswith("ATU-")
        assert sent.json()["data"]["new_balance_cents"] == balance
    [key] = openrouter.keys.values()
    assert key["limit"] == 5.0
    assert key["secret"] not in sent.text
    await assert_ledger_balanced(db)


async def test_an_upstreams_code_is_not_redeemed_here(
    fulfil_client: httpx.AsyncClient,
    openrouter_merchant: MakeUpstreamMerchant,
    newapi_merchant: MakeUpstreamMerchant,
    openrouter_standin: tuple[OpenRouterStandIn, str],
    newapi_standin: tuple[NewApiStandIn, str],
) -> None:
    """The credit of an upstream's top-up is spent upstream (OpenRouter's key, New API's code):
    the voucher a top-up through OpenRouter carries is not found here, or it would be spent
    twice; New API's code is not a voucher at all."""
    for make, refused in ((openrouter_merchant, 4240), (newapi_merchant, 4243)):
        merchant = await make()
        sent = await fulfil_client.post(
            "/topup/send", json=send_body(300), headers=merchant.headers
        )
        assert sent.json()["code"] == 1001, sent.text
        code = sent.json()["data"]["voucher_code"]
        reply = await fulfil_client.post(
            "/vouchers/redeem", json={"code": code}, headers=merchant.headers
        )
        assert reply.json()["code"] == refused, reply.text


async def test_a_voucher_send_reads_no_provider_and_tries_no_upstream(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    newapi_standin: tuple[NewApiStandIn, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The voucher's send pays nothing for upstreams: the key's lookup says the merchant has
    none (one ``EXISTS`` in the same statement), so no provider is read and nothing is tried.
    With an upstream on another platform, the provider is read (by key) and the voucher used."""
    reads: list[str] = []
    provider_of = work.provider_of

    async def counted(db: Database, merchant_id: str, env: str, platform: str) -> str | None:
        reads.append(platform)
        return await provider_of(db, merchant_id, env, platform)

    async def never(*_: Any, **__: Any) -> Any:
        raise AssertionError("a voucher send tried an upstream")

    monkeypatch.setattr(work, "provider_of", counted)
    monkeypatch.setattr(fulfilling, "attempt", never)
    merchant = await make_merchant("staging")
    sent = await fulfil_client.post("/topup/send", json=send_body(120), headers=merchant.headers)
    assert (sent.status_code, sent.json()["code"]) == (200, 1001), sent.text
    assert sent.json()["data"]["voucher_code"].startswith("ATU-")
    assert reads == []

    newapi, root = newapi_standin
    body = {"provider": "newapi", "base_url": root, "access_token": "t", "user_id": 1}
    saved = await fulfil_client.put("/fulfilment/gemini", json=body, headers=merchant.headers)
    assert saved.status_code == 200, saved.text
    again = await fulfil_client.post("/topup/send", json=send_body(130), headers=merchant.headers)
    assert (again.status_code, again.json()["code"]) == (200, 1001), again.text
    assert reads == ["claude"]
    assert newapi.faults.calls == 0


async def test_an_upstream_delivery_counts_in_the_caps_on_voucher_mails(
    fulfil_client: httpx.AsyncClient, newapi_merchant: MakeUpstreamMerchant, db: Database
) -> None:
    """Delivered by its upstream (not by the send): the mail is capped as a send's is, at the
    default 5 an hour to one address."""
    merchant = await newapi_merchant()
    words = []
    for _ in range(6):
        sent = await fulfil_client.post("/topup/send", json=send_body(10), headers=merchant.headers)
        assert (sent.status_code, sent.json()["status"]) == (200, "delivered"), sent.text
        words.append(sent.json()["data"]["mail"])
    assert words[-1] == "held" and "held" not in words[:5]
    delivered = await events_of(db, merchant.merchant_id, "topup.delivered")
    assert sorted(e["data"]["mail"] == "held" for e in delivered) == [False] * 5 + [True]
