"""The admin API: its token, merchants, adjustments, transactions, packs, coupons, codes and
the audit trail every call leaves."""

import json
from typing import Any

import httpx
import pytest

from gateway.store.engine import Database
from tests.fixtures.core import wait_until
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced
from tests.fixtures.webhooks import Receiver, events_of
from tests.fixtures.workers import StartWorker

ADMIN = "/api/admin/v1"


async def test_admin_api_is_off_without_a_token(
    client: httpx.AsyncClient,
) -> None:
    reply = await client.get(f"http://gateway.test{ADMIN}/merchants")
    assert reply.status_code == 403
    assert reply.json()["code"] == 2101


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, 2102),
        ({"Authorization": "Bearer not-the-token"}, 401, 2103),
        ({"Authorization": "Basic dGVzdDp0ZXN0"}, 401, 2103),
        ({"Authorization": "Bearer "}, 401, 2103),
    ],
)
async def test_admin_refuses_missing_and_wrong_tokens(
    billing_client: httpx.AsyncClient, headers: dict[str, str], status: int, code: int
) -> None:
    reply = await billing_client.get(f"http://gateway.test{ADMIN}/merchants", headers=headers)
    assert (reply.status_code, reply.json()["code"]) == (status, code)
    assert reply.headers["www-authenticate"] == "Bearer"


async def test_admin_refuses_merchant_keys_and_changes_nothing(
    billing_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    reply = await billing_client.post(
        f"http://gateway.test{ADMIN}/merchants/{merchant.merchant_id}/adjustments",
        json={"env": "live", "amount_cents": 5000, "reason": "let me in"},
        headers=merchant.headers,
    )
    assert (reply.status_code, reply.json()["code"]) == (401, 2104)
    balance = await billing_client.get("/balance", headers=merchant.headers)
    assert balance.json()["data"]["balance_cents"] == 0


async def test_merchants_create_list_get_and_threshold(admin_client: httpx.AsyncClient) -> None:
    created = await admin_client.post("/merchants", json={"name": "acme-admin-test"})
    assert created.status_code == 201, created.text
    merchant = created.json()["data"]
    assert merchant["id"].startswith("mer_")
    assert merchant["balances"] == {"staging": 100_000, "live": 0}
    assert merchant["low_balance_threshold_cents"] == 1000

    dup = await admin_client.post("/merchants", json={"name": "acme-admin-test"})
    assert (dup.status_code, dup.json()["code"]) == (409, 4141)

    patched = await admin_client.patch(
        f"/merchants/{merchant['id']}", json={"low_balance_threshold_cents": 2500}
    )
    assert patched.json()["data"]["low_balance_threshold_cents"] == 2500
    got = await admin_client.get(f"/merchants/{merchant['id']}")
    assert got.json()["data"]["low_balance_threshold_cents"] == 2500

    listed = await admin_client.get("/merchants", params={"limit": 200})
    assert merchant["id"] in {m["id"] for m in listed.json()["data"]}
    assert listed.json()["meta"]["total"] >= 1

    for bad in ({"low_balance_threshold_cents": -1}, {"low_balance_threshold_cents": 1.5}, {}):
        reply = await admin_client.patch(f"/merchants/{merchant['id']}", json=bad)
        assert (reply.status_code, reply.json()["code"]) == (422, 3001), bad
    missing = await admin_client.get("/merchants/mer_nope")
    assert (missing.status_code, missing.json()["code"]) == (404, 4140)


async def test_adjustments_land_in_the_ledger_and_the_audit_log(
    admin_client: httpx.AsyncClient,
    billing_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
) -> None:
    merchant = await make_merchant("live", low_balance_threshold_cents=1000)
    url = f"/merchants/{merchant.merchant_id}/adjustments"
    headers = {"X-Admin-Actor": "alice@ops"}

    credit = await admin_client.post(
        url, json={"env": "live", "amount_cents": 5000, "reason": "goodwill"}, headers=headers
    )
    assert credit.status_code == 201, credit.text
    adj = credit.json()["data"]
    assert adj["balance_cents"] == 5000
    assert adj["actor"] == "alice@ops"

    debit = await admin_client.post(
        url, json={"env": "live", "amount_cents": -4500, "reason": "chargeback"}, headers=headers
    )
    assert debit.json()["data"]["balance_cents"] == 500

    below = await admin_client.post(
        url, json={"env": "live", "amount_cents": -501, "reason": "too much"}
    )
    assert (below.status_code, below.json()["code"]) == (409, 4142)
    for bad in (
        {"env": "live", "amount_cents": 100},
        {"env": "live", "amount_cents": 100, "reason": "   "},
        {"env": "live", "amount_cents": 0, "reason": "zero"},
        {"env": "live", "amount_cents": "100", "reason": "string"},
        {"env": "live", "amount_cents": 10.0, "reason": "float"},
        {"env": "prod", "amount_cents": 100, "reason": "env"},
        {"env": "live", "amount_cents": 100, "reason": "x", "extra": 1},
        {"env": "live", "amount_cents": 100, "reason": "x", "memo": "  "},
        {"env": "live", "amount_cents": 100, "reason": "x", "memo": "m" * 201},
        {"env": "live", "amount_cents": 100, "reason": "x", "memo": 5},
    ):
        reply = await admin_client.post(url, json=bad)
        assert (reply.status_code, reply.json()["code"]) == (422, 3001), bad

    balance = await billing_client.get("/balance", headers=merchant.headers)
    assert balance.json()["data"]["balance_cents"] == 500

    ledger = await billing_client.get("/billing/transactions", headers=merchant.headers)
    entries = ledger.json()["data"]
    assert [(e["type"], e["amount_cents"]) for e in entries] == [
        ("adjustment", -4500),
        ("adjustment", 5000),
    ]
    assert [e["description"] for e in entries] == ["Balance adjustment"] * 2
    assert entries[1]["reference"] == adj["id"]

    audit = await admin_client.get(
        "/audit", params={"target_id": merchant.merchant_id, "action": "merchants.adjust"}
    )
    rows = audit.json()["data"]
    assert [(r["status_code"], r["actor"]) for r in rows] == [
        *[(422, "admin")] * 10,
        (409, "admin"),
        (201, "alice@ops"),
        (201, "alice@ops"),
    ]
    assert rows[-1]["details"]["reason"] == "goodwill"
    assert rows[-1]["details"]["adjustment_id"] == adj["id"]
    assert rows[-1]["details"]["memo"] == "Balance adjustment"

    [credited] = await events_of(db, merchant.merchant_id, "wallet.credited")
    assert credited["data"]["source"] == "adjustment"
    [debited] = await events_of(db, merchant.merchant_id, "wallet.debited")
    assert debited["data"]["amount_cents"] == -4500
    [low] = await events_of(db, merchant.merchant_id, "balance.low")
    assert low["data"]["balance_cents"] == 500

    txns = await admin_client.get(
        "/transactions", params={"merchant_id": merchant.merchant_id, "type": "adjustment"}
    )
    assert txns.json()["meta"]["total"] == 2
    assert {t["merchant_id"] for t in txns.json()["data"]} == {merchant.merchant_id}
    await assert_ledger_balanced(db)


async def test_an_adjustments_reason_and_actor_stay_with_the_operators(
    admin_client: httpx.AsyncClient,
    billing_client: httpx.AsyncClient,
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    receiver: Receiver,
    start_worker: StartWorker,
) -> None:
    """The merchant's ledger, history, balance, webhooks and delivery log carry the memo (or
    the neutral one), never the internal reason or who made the adjustment."""
    await start_worker()
    merchant = await make_merchant("staging")
    endpoint = await hook_client.post(
        "/webhooks/endpoints", json={"url": receiver.url}, headers=merchant.headers
    )
    assert endpoint.status_code == 201, endpoint.text
    actor = "Mallory Internal-Ops"
    reasons = ["fraud review 7731: suspected card testing", "CHARGEBACK-SECRET-NOTE"]
    url = f"/merchants/{merchant.merchant_id}/adjustments"
    credit = await admin_client.post(
        url,
        json={"env": "staging", "amount_cents": 500, "reason": reasons[0]},
        headers={"X-Admin-Actor": actor},
    )
    debit = await admin_client.post(
        url,
        json={
            "env": "staging",
            "amount_cents": -200,
            "reason": reasons[1],
            "memo": "Refund of order 42",
        },
        headers={"X-Admin-Actor": actor},
    )
    assert (credit.status_code, debit.status_code) == (201, 201), (credit.text, debit.text)
    # The operators keep both: in the reply, the adjustments table and the audit log.
    assert (credit.json()["data"]["reason"], credit.json()["data"]["actor"]) == (reasons[0], actor)
    assert credit.json()["data"]["memo"] == "Balance adjustment"
    assert debit.json()["data"]["memo"] == "Refund of order 42"
    audit = await admin_client.get(
        "/audit", params={"target_id": merchant.merchant_id, "action": "merchants.adjust"}
    )
    assert {r["details"]["reason"] for r in audit.json()["data"]} == set(reasons)
    assert {r["actor"] for r in audit.json()["data"]} == {actor}

    async def both_recorded() -> bool:
        listed = await hook_client.get("/webhooks/deliveries", headers=merchant.headers)
        statuses = [d["status"] for d in listed.json()["data"]]
        return statuses == ["succeeded"] * 2 and len(receiver.received) == 2

    await wait_until(both_recorded)
    bodies = {json.loads(r.body)["type"]: json.loads(r.body) for r in receiver.received}
    assert bodies["wallet.credited"]["data"]["description"] == "Balance adjustment"
    assert bodies["wallet.debited"]["data"]["description"] == "Refund of order 42"

    ledger = await billing_client.get("/billing/transactions", headers=merchant.headers)
    descriptions = [e["description"] for e in ledger.json()["data"][:2]]
    assert descriptions == ["Refund of order 42", "Balance adjustment"]
    deliveries = await hook_client.get("/webhooks/deliveries", headers=merchant.headers)
    seen = [
        *(r.raw.decode("latin-1") for r in receiver.received),
        ledger.text,
        (await billing_client.get("/billing/history", headers=merchant.headers)).text,
        (await billing_client.get("/balance", headers=merchant.headers)).text,
        deliveries.text,
        *[
            (
                await hook_client.get(f"/webhooks/deliveries/{d['id']}", headers=merchant.headers)
            ).text
            for d in deliveries.json()["data"]
        ],
    ]
    assert len(seen) == 8
    for text in seen:
        for secret in (*reasons, actor, "Mallory", "fraud review", "CHARGEBACK"):
            assert secret not in text, (secret, text[:300])


async def test_every_call_is_audited_reads_included(admin_client: httpx.AsyncClient) -> None:
    marker = "auditor-reads"
    await admin_client.get("/packs", headers={"X-Admin-Actor": marker})
    await admin_client.get("/merchants", params={"limit": 0}, headers={"X-Admin-Actor": marker})
    audit = await admin_client.get("/audit", params={"actor": marker})
    rows = audit.json()["data"]
    assert [(r["action"], r["status_code"], r["code"]) for r in rows] == [
        ("merchants.list", 422, 3006),
        ("packs.list", 200, 1000),
    ]


async def test_packs_managed_by_admins_show_to_merchants(
    admin_client: httpx.AsyncClient, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    body: dict[str, Any] = {
        "id": "pack_mega_t",
        "name": "Mega",
        "price_cents": 10000,
        "credits": 150_000,
        "sort_order": 40,
    }
    created = await admin_client.post("/packs", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["data"]["credit_cents"] == 15_000
    dup = await admin_client.post("/packs", json=body)
    assert dup.json()["code"] == 4143
    odd = await admin_client.post("/packs", json={**body, "id": "pack_odd", "credits": 15})
    assert odd.json()["code"] == 3001

    packs = await client.get("/topup/packs", headers=merchant.headers)
    assert "pack_mega_t" in {p["id"] for p in packs.json()["data"]}
    off = await admin_client.patch("/packs/pack_mega_t", json={"active": False})
    assert off.json()["data"]["active"] is False
    packs = await client.get("/topup/packs", headers=merchant.headers)
    assert "pack_mega_t" not in {p["id"] for p in packs.json()["data"]}
    admin_list = await admin_client.get("/packs")
    assert "pack_mega_t" in {p["id"] for p in admin_list.json()["data"]}
    missing = await admin_client.patch("/packs/nope", json={"active": False})
    assert missing.json()["code"] == 4101


async def test_redemption_codes_are_shown_once_and_listed_without_them(
    admin_client: httpx.AsyncClient,
) -> None:
    created = await admin_client.post(
        "/redemption-codes",
        json={"count": 3, "amount_cents": 250, "env": "staging", "name": "promo"},
    )
    assert created.status_code == 201
    batch = created.json()["data"]
    assert len(set(batch["codes"])) == 3
    listed = await admin_client.get("/redemption-codes", params={"batch_id": batch["batch_id"]})
    body = listed.json()
    assert body["meta"]["total"] == 3
    assert {i["status"] for i in body["data"]} == {"unused"}
    assert {i["hint"] for i in body["data"]} == {c[-4:] for c in batch["codes"]}
    for code in batch["codes"]:
        assert code not in listed.text
    audit = await admin_client.get("/audit", params={"target_id": batch["batch_id"]})
    for code in batch["codes"]:
        assert code not in audit.text
    for bad in (
        {"count": 0, "amount_cents": 250, "env": "staging"},
        {"count": 1001, "amount_cents": 250, "env": "staging"},
        {"count": 1, "amount_cents": 0, "env": "staging"},
        {"count": 1, "amount_cents": 250, "env": "staging", "expires_at": "2000-01-01T00:00:00Z"},
        {"count": 1, "amount_cents": 250, "env": "staging", "expires_at": "2099-01-01T00:00:00"},
    ):
        reply = await admin_client.post("/redemption-codes", json=bad)
        assert reply.json()["code"] == 3001, bad


async def test_admin_bad_json_is_an_envelope(admin_client: httpx.AsyncClient) -> None:
    reply = await admin_client.post(
        "/merchants", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert (reply.status_code, reply.json()["code"]) == (400, 3002)
    unknown = await admin_client.get("/nothing-here")
    assert unknown.json()["code"] == 3007
