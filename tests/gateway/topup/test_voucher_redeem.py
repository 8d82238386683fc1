"""Redeeming the built-in voucher with the merchant that sent it (``POST /vouchers/redeem``):
once, in the key's environment, by the merchant's own keys only; the recipient's balance at the
merchant pays for it, every balance staying the sum of its entries; refusals change nothing."""

import asyncio
from typing import Any

import httpx
from sqlalchemy import select, update
from starlette.types import ASGIApp

from gateway.ledger import service as ledger
from gateway.store.engine import Database
from gateway.store.models import LedgerEntry, Topup, Wallet, table_of
from tests.fixtures.dashboard import dashboard_client
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced, merchant_balance
from tests.fixtures.webhooks import events_of

REDEEM = "/vouchers/redeem"
_T, _W, _L = table_of(Topup), table_of(Wallet), table_of(LedgerEntry)


async def _send(
    client: httpx.AsyncClient, merchant: Any, email: str = "user@example.com", cents: int = 1000
) -> dict[str, Any]:
    reply = await client.post(
        "/topup/send",
        json={"platform": "claude", "amount_cents": cents, "recipient_email": email},
        headers=merchant.headers,
    )
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


async def _recipient(db: Database, merchant: Any, email: str = "user@example.com") -> int:
    owner = ledger.recipient_owner(merchant.merchant_id, "claude", email)
    async with db.read() as conn:
        found = await ledger.balance(conn, merchant.env, owner)
    assert found is not None
    return found.balance_cents


async def _redeemed_at(db: Database, txn_id: str) -> Any:
    async with db.read() as conn:
        return (await conn.execute(select(_T.c.redeemed_at).where(_T.c.id == txn_id))).scalar()


async def test_a_voucher_is_redeemed_once_by_its_merchant(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    first = await _send(client, merchant)
    await _send(client, merchant, cents=500)  # the recipient's other credit stays
    code = first["data"]["voucher_code"]
    assert await _recipient(db, merchant) == 1500

    reply = await client.post(REDEEM, json={"code": code}, headers=merchant.headers)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert (body["success"], body["code"]) == (True, 1008)
    assert body["transaction_id"] == first["transaction_id"]
    data = body["data"]
    assert data["code"] == code
    assert data["transaction_id"] == first["transaction_id"]
    assert (data["platform"], data["amount_cents"]) == ("claude", 1000)
    assert data["recipient_email"] == "user@example.com"
    assert data["recipient_balance_cents"] == 500
    assert data["redeemed_at"].endswith("Z")
    assert await _recipient(db, merchant) == 500
    assert await merchant_balance(db, merchant) == 100_000 - 1500  # the merchant's is untouched
    await assert_ledger_balanced(db)
    async with db.read() as conn:
        kinds = (
            await conn.execute(
                select(_L.c.kind, _L.c.amount_cents, _L.c.reference).where(
                    _L.c.kind == "voucher_redeemed", _L.c.reference == first["transaction_id"]
                )
            )
        ).all()
    assert [tuple(k) for k in kinds] == [("voucher_redeemed", -1000, first["transaction_id"])]
    (event,) = await events_of(db, merchant.merchant_id, "voucher.redeemed")
    assert event["data"]["transaction_id"] == first["transaction_id"]
    assert event["data"]["amount_cents"] == 1000
    assert event["data"]["recipient_balance_cents"] == 500
    assert event["data"]["redeemed_at"] == data["redeemed_at"]
    assert code not in str(event)  # the voucher itself is never in an event

    shown = await client.get(f"/topup/{first['transaction_id']}", headers=merchant.headers)
    assert shown.json()["data"]["redeemed_at"] == data["redeemed_at"]

    again = await client.post(REDEEM, json={"code": code}, headers=merchant.headers)
    assert again.status_code == 409
    assert (again.json()["code"], again.json()["data"]["redeemed_at"]) == (
        4241,
        data["redeemed_at"],
    )
    assert again.json()["data"]["transaction_id"] == first["transaction_id"]
    assert await _recipient(db, merchant) == 500
    assert len(await events_of(db, merchant.merchant_id, "voucher.redeemed")) == 1


async def test_the_code_is_taken_however_it_is_typed(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    code = (await _send(client, merchant))["data"]["voucher_code"]
    typed = " " + code.lower().replace("-", " ").replace(" ", "", 1) + " "
    reply = await client.post(REDEEM, json={"code": typed}, headers=merchant.headers)
    assert reply.json()["code"] == 1008
    assert reply.json()["data"]["code"] == code


async def test_concurrent_redemptions_have_one_winner(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    sent = await _send(client, merchant, cents=700)
    code = sent["data"]["voucher_code"]
    replies = await asyncio.gather(
        *(client.post(REDEEM, json={"code": code}, headers=merchant.headers) for _ in range(20))
    )
    codes = sorted(r.json()["code"] for r in replies)
    assert codes == [1008] + [4241] * 19
    assert await _recipient(db, merchant) == 0
    await assert_ledger_balanced(db)
    async with db.read() as conn:
        spent = (
            await conn.execute(
                select(_L.c.id).where(
                    _L.c.kind == "voucher_redeemed", _L.c.reference == sent["transaction_id"]
                )
            )
        ).all()
    assert len(spent) == 1
    assert len(await events_of(db, merchant.merchant_id, "voucher.redeemed")) == 1


async def test_another_merchant_or_environment_finds_nothing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("live", balance_cents=5_000)
    code = (await _send(client, merchant))["data"]["voucher_code"]
    other = await make_merchant("live", balance_cents=5_000)
    staging = await make_merchant("staging", merchant_id=merchant.merchant_id)
    staged_code = (await _send(client, staging))["data"]["voucher_code"]
    unknown = "ATU-2222-3333-4444"
    for key, presented in [
        (other, code),
        (staging, code),
        (merchant, staged_code),
        (merchant, unknown),
    ]:
        reply = await client.post(REDEEM, json={"code": presented}, headers=key.headers)
        assert reply.status_code == 404, reply.text
        assert (reply.json()["code"], reply.json()["data"]) == (4240, None)
    assert await _recipient(db, merchant) == 1000
    mine = await client.post(REDEEM, json={"code": code}, headers=merchant.headers)
    assert mine.json()["code"] == 1008


async def test_a_malformed_code_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    sent = await _send(client, merchant)
    code = sent["data"]["voucher_code"]
    for bad in ["RDM-2222-3333-4444-5555", code + "2", code[:-1] + "0", "ATU"]:
        reply = await client.post(REDEEM, json={"code": bad}, headers=merchant.headers)
        assert reply.status_code == 422, bad
        assert reply.json()["code"] == 4243
    for body in [{}, {"code": 12}, {"code": "x" * 65}, {"code": code, "other": 1}]:
        reply = await client.post(REDEEM, json=body, headers=merchant.headers)
        assert reply.status_code == 422, body
        assert reply.json()["success"] is False
    assert await _redeemed_at(db, sent["transaction_id"]) is None
    assert await _recipient(db, merchant) == 1000


async def test_a_key_without_the_send_scope_is_refused(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    code = (await _send(client, merchant))["data"]["voucher_code"]
    made = await client.post(
        "/keys",
        json={"name": "reader", "policy": {"scopes": ["topup:read"]}},
        headers=merchant.headers,
    )
    assert made.status_code in (200, 201), made.text
    reader = {"Authorization": f"Bearer {made.json()['data']['key']}"}
    reply = await client.post(REDEEM, json={"code": code}, headers=reader)
    assert (reply.status_code, reply.json()["code"]) == (403, 2301)


async def test_a_top_up_not_delivered_is_not_redeemable(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    """No transition leaves ``delivered`` today, so a voucher's top-up in another state is one
    the lifecycle may reach later (a failed or cancelled one): its code is refused, said so."""
    merchant = await make_merchant()
    for status in ["failed", "cancelled"]:
        sent = await _send(client, merchant, email=f"{status}@example.com")
        async with db.transaction() as conn:
            await conn.execute(
                update(_T).where(_T.c.id == sent["transaction_id"]).values(status=status)
            )
        reply = await client.post(
            REDEEM, json={"code": sent["data"]["voucher_code"]}, headers=merchant.headers
        )
        assert reply.status_code == 409
        assert reply.json()["code"] == 4242
        assert reply.json()["data"] == {"transaction_id": sent["transaction_id"], "status": status}
        assert await _redeemed_at(db, sent["transaction_id"]) is None
        assert await _recipient(db, merchant, f"{status}@example.com") == 1000


async def test_a_redeemed_voucher_cannot_be_cancelled_or_refunded(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    sent = await _send(client, merchant)
    redeemed = await client.post(
        REDEEM, json={"code": sent["data"]["voucher_code"]}, headers=merchant.headers
    )
    assert redeemed.json()["code"] == 1008
    cancel = await client.post(f"/topup/{sent['transaction_id']}/cancel", headers=merchant.headers)
    assert (cancel.status_code, cancel.json()["code"]) == (409, 4005)
    assert await merchant_balance(db, merchant) == 100_000 - 1000
    assert await _recipient(db, merchant) == 0
    await assert_ledger_balanced(db)


async def test_a_voucher_delivered_on_approval_is_redeemable(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    made = await client.post(
        "/keys",
        json={
            "name": "agent",
            "policy": {"scopes": ["topup:send", "topup:read"], "approval_above_cents": 100},
        },
        headers=merchant.headers,
    )
    assert made.status_code in (200, 201), made.text
    agent = {"Authorization": f"Bearer {made.json()['data']['key']}"}
    held = await client.post(
        "/topup/send",
        json={"platform": "claude", "amount_cents": 500, "recipient_email": "h@example.com"},
        headers=agent,
    )
    assert held.json()["code"] == 1006, held.text
    approved = await client.post(
        f"/topup/{held.json()['transaction_id']}/approve", headers=merchant.headers
    )
    assert approved.json()["code"] == 1001, approved.text
    code = approved.json()["data"]["voucher_code"]
    reply = await client.post(REDEEM, json={"code": code}, headers=agent)
    assert reply.json()["code"] == 1008


async def test_the_mailbox_and_the_recipients_page_show_it_redeemed(
    app: ASGIApp, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    sent = await _send(client, merchant)
    [mail] = (await client.get("/emails", headers=merchant.headers)).json()["data"]
    assert "To use this credit, enter the code" in mail["text"] and "redeemed_at" not in mail
    assert "Redeem it where" not in mail["text"]  # no promise the product does not keep
    path = mail["link"].split("/dashboard", 1)[1]
    async with dashboard_client(app) as browser:
        before = await browser.get(path)
    assert "Redeemed with" not in before.text and "status-redeemed" not in before.text

    done = await client.post(
        REDEEM, json={"code": sent["data"]["voucher_code"]}, headers=merchant.headers
    )
    when = done.json()["data"]["redeemed_at"]
    [mail] = (await client.get("/emails", headers=merchant.headers)).json()["data"]
    assert mail["redeemed_at"] == when
    assert "Redeemed with" in mail["text"] and "Redeemed with" in mail["html"]
    assert "To use this credit" not in mail["text"]
    one = (await client.get(f"/emails/{mail['id']}", headers=merchant.headers)).json()["data"]
    assert one["redeemed_at"] == when
    async with dashboard_client(app) as browser:
        after = await browser.get(path)
    assert after.status_code == 200
    assert "Redeemed with" in after.text and "status-redeemed" in after.text
    assert "$0.00" in after.text  # the balance shows what is left unspent
