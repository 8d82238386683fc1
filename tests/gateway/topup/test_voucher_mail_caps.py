"""Caps on voucher mails (``mail.caps``): past the cap per recipient, or per merchant, in an
hour, a send still delivers its credit and its mail is held, never sent; the reply, the
``topup.delivered`` event and the mail's state say so. Concurrent sends on a real socket never
queue more than the cap, nor when Redis stalls past the limiter's deadline. On both stores."""

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.mail import caps
from gateway.redis_server import RedisServer
from gateway.store.engine import Database
from gateway.store.models import Event, Mail, Topup, table_of
from gateway.values.settings import Settings
from tests.fixtures.core import STALLED_REDIS, live_server, local_client, make_settings
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy
from tests.fixtures.redis import stalled

_M = table_of(Mail)
_E = table_of(Event)
_T = table_of(Topup)
PER_RECIPIENT, PER_MERCHANT = 3, 5


@pytest.fixture(scope="module")
async def api(database_url: str, redis_url: str) -> AsyncIterator[str]:
    settings: Settings = make_settings(
        database_url,
        redis_url,
        voucher_mails_per_recipient_per_hour=PER_RECIPIENT,
        voucher_mails_per_merchant_per_hour=PER_MERCHANT,
    )
    async with live_server(settings) as root:
        yield f"{root}/api/public/v1"


async def _send(http: httpx.AsyncClient, headers: dict[str, str], to: str) -> dict[str, Any]:
    body = {"platform": "claude", "amount_cents": 1, "recipient_email": to}
    reply = await http.post("/topup/send", json=body, headers=headers)
    assert reply.status_code == 200, reply.text
    found: dict[str, Any] = reply.json()
    assert found["status"] == "delivered"  # every credit is delivered, mail or not
    return found


async def _state(db: Database, merchant_id: str) -> tuple[list[Any], list[dict[str, Any]]]:
    async with db.read() as conn:
        mails = (await conn.execute(select(_M).where(_M.c.merchant_id == merchant_id))).all()
        events = (
            await conn.execute(
                select(_E.c.payload).where(
                    _E.c.merchant_id == merchant_id, _E.c.type == "topup.delivered"
                )
            )
        ).scalars()
        return list(mails), [json.loads(p)["data"] for p in events]


async def test_sends_past_the_caps_deliver_and_hold_their_mail(
    api: str, db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live", balance_cents=10_000)
    async with local_client(base_url=api) as http:
        first = await asyncio.gather(
            *(_send(http, merchant.headers, "ann@example.com") for _ in range(PER_RECIPIENT + 3))
        )
        assert Counter(r["data"]["mail"] for r in first) == {"queued": 3, "held": 3}
        # Another address: the merchant's hour has 2 left of its 5.
        others = [await _send(http, merchant.headers, f"r{n}@example.com") for n in range(4)]
        assert [r["data"]["mail"] for r in others] == ["queued", "queued", "held", "held"]
    mails, events = await _state(db, merchant.merchant_id)
    assert Counter(m.status for m in mails) == {"queued": PER_MERCHANT, "held": 5}
    notes = Counter(m.last_error for m in mails if m.status == "held")
    assert notes == {
        "held: over 3 voucher mails to this address in an hour": 3,
        "held: over 5 voucher mails from this merchant in an hour": 2,
    }
    assert Counter(e["mail"] for e in events) == {"queued": PER_MERCHANT, "held": 5}
    held_txns = {m.topup_id for m in mails if m.status == "held"}
    assert held_txns == {e["transaction_id"] for e in events if e["mail"] == "held"}
    async with db.read() as conn:
        statuses = (
            await conn.execute(select(_T.c.status).where(_T.c.merchant_id == merchant.merchant_id))
        ).scalars()
        assert Counter(statuses) == {"delivered": 10}


async def test_a_send_without_mail_counts_nothing_and_staging_shows_held(
    api: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=10_000)
    async with local_client(base_url=api) as http:
        off = {"platform": "claude", "amount_cents": 1, "recipient_email": "bo@example.com",
               "notify_recipient": False}  # fmt: skip
        for _ in range(PER_RECIPIENT + 1):
            reply = await http.post("/topup/send", json=off, headers=merchant.headers)
            assert reply.json()["data"]["mail"] == "off"
        sent = [await _send(http, merchant.headers, "bo@example.com") for _ in range(4)]
        assert [r["data"]["mail"] for r in sent] == ["staged", "staged", "staged", "held"]
        replayed = await http.post(
            "/topup/send",
            json={"platform": "claude", "amount_cents": 1, "recipient_email": "cy@example.com"},
            headers={**merchant.headers, "Idempotency-Key": "one"},
        )
        again = await http.post(
            "/topup/send",
            json={"platform": "claude", "amount_cents": 1, "recipient_email": "cy@example.com"},
            headers={**merchant.headers, "Idempotency-Key": "one"},
        )
        assert replayed.json()["data"]["mail"] == again.json()["data"]["mail"] == "staged"
        # The merchant's hour counted 3 + 1 (the replay gave its count back): one left.
        assert (await _send(http, merchant.headers, "dee@example.com"))["data"]["mail"] == "staged"
        assert (await _send(http, merchant.headers, "eve@example.com"))["data"]["mail"] == "held"
        box = (await http.get("/emails", headers=merchant.headers)).json()["data"]
        listed = await http.get("/recipients", headers=merchant.headers)
    held = [m for m in box if m["status"] == "held"]
    assert len(held) == 2 and all(m["last_error"].startswith("held: over") for m in held)
    # A recipient whose latest mail was held is listed with it, as every other state is.
    assert listed.status_code == 200, listed.text
    latest = {r["email"]: r["email_state"]["status"] for r in listed.json()["data"]}
    assert latest["bo@example.com"] == latest["eve@example.com"] == "held"


async def test_an_approved_delivery_counts_in_the_same_caps(
    api: str, db: Database, make_merchant: MakeMerchant
) -> None:
    """Held sends, each approved: the approval's delivery is capped as a send's is."""
    agent = await make_merchant("live", balance_cents=50_000)
    human = await make_merchant("live", merchant_id=agent.merchant_id)
    await set_policy(db, agent.key_id, {"scopes": ["topup:send"], "approval_above_cents": 10})
    await set_policy(db, human.key_id, {"scopes": ["approvals", "topup:read"]})
    body = {"platform": "claude", "amount_cents": 100, "recipient_email": "fay@example.com"}
    async with local_client(base_url=api) as http:
        words = []
        for _ in range(PER_RECIPIENT + 1):
            held = await http.post("/topup/send", json=body, headers=agent.headers)
            assert held.status_code == 202, held.text
            txn = held.json()["transaction_id"]
            approved = await http.post(f"/topup/{txn}/approve", headers=human.headers)
            assert (approved.status_code, approved.json()["status"]) == (200, "delivered")
            words.append(approved.json()["data"]["mail"])
    assert words == ["queued", "queued", "queued", "held"]
    mails, events = await _state(db, agent.merchant_id)
    assert Counter(m.status for m in mails) == {"queued": 3, "held": 1}
    assert [e["mail"] for e in events].count("held") == 1


async def test_a_burst_while_redis_stalls_holds_every_mail_it_cannot_count(
    database_url: str, db: Database, make_merchant: MakeMerchant, private_redis: RedisServer
) -> None:
    """100 live one-cent sends, 50 at a time, to one address while the gateway's Redis is
    stopped (so every count misses the limiter's deadline): every send delivers, and no more
    mails go than the cap (5 an hour), never one past it because a count could not be made."""
    settings = make_settings(database_url, private_redis.url, **STALLED_REDIS)
    cap = settings.voucher_mails_per_recipient_per_hour
    merchant = await make_merchant("live", balance_cents=10_000)
    async with (
        live_server(settings) as root,
        local_client(base_url=f"{root}/api/public/v1", timeout=60) as http,
    ):
        replies: list[dict[str, Any]] = []
        with stalled(private_redis):
            for _ in range(2):
                replies += await asyncio.gather(
                    *(_send(http, merchant.headers, "gil@example.com") for _ in range(50))
                )
    assert len(replies) == 100
    mails, events = await _state(db, merchant.merchant_id)
    going = [m for m in mails if m.status != "held"]
    assert len(mails) == 100 and len(going) <= cap
    uncounted = [m for m in mails if m.last_error == caps.UNCOUNTED]
    assert uncounted and all(m.status == "held" for m in uncounted)
    assert Counter(r["data"]["mail"] for r in replies)["held"] == 100 - len(going)
    assert Counter(e["mail"] for e in events)["held"] == 100 - len(going)
