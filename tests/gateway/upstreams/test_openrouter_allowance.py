"""An OpenRouter fulfilment's allowance: its keys' limit reset and expiry, saved and listed
with the setting, asked of OpenRouter when a recipient's key is made (and only then: a key made
before keeps what it was made with), never asked without them; bad values refused with the
envelope, naming the field, changing nothing; a key past its expiry takes no more sends. On
SQLite and PostgreSQL."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from gateway.store.engine import Database
from gateway.store.models import FulfilmentSetting, UpstreamKey
from gateway.upstreams.clients import UpstreamError
from gateway.upstreams.providers.openrouter import figures
from gateway.values.clock import utcnow
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant, MerchantKey, assert_ledger_balanced
from tests.fixtures.upstreams import (
    OPENROUTER_MANAGEMENT_KEY,
    OpenRouterStandIn,
    send_body,
)
from tests.fixtures.webhooks import events_of


def _setting(root: str, **allowance: Any) -> dict[str, Any]:
    return {
        "provider": "openrouter",
        "management_key": OPENROUTER_MANAGEMENT_KEY,
        "base_url": root,
        **allowance,
    }


async def _put(
    client: httpx.AsyncClient, merchant: MerchantKey, body: dict[str, Any]
) -> httpx.Response:
    return await client.put("/fulfilment/claude", json=body, headers=merchant.headers)


async def _send(client: httpx.AsyncClient, merchant: MerchantKey, cents: int) -> dict[str, Any]:
    sent = await client.post("/topup/send", json=send_body(cents), headers=merchant.headers)
    body: dict[str, Any] = sent.json()
    return body


async def test_the_allowance_is_saved_and_asked_when_the_key_is_made(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    openrouter_standin: tuple[OpenRouterStandIn, str],
) -> None:
    openrouter, root = openrouter_standin
    merchant = await make_merchant("staging", balance_cents=10_000)
    saved = await _put(
        fulfil_client, merchant, _setting(root, limit_reset="monthly", key_expires_after_days=30)
    )
    assert saved.status_code == 200, saved.text
    data = saved.json()["data"]
    assert (data["limit_reset"], data["key_expires_after_days"]) == ("monthly", 30)
    listed = (await fulfil_client.get("/fulfilment", headers=merchant.headers)).json()["data"]
    claude = next(f for f in listed if f["platform"] == "claude")
    assert (claude["limit_reset"], claude["key_expires_after_days"]) == ("monthly", 30)

    before = utcnow().replace(microsecond=0)
    assert (await _send(fulfil_client, merchant, 500))["code"] == 1001
    after = utcnow()
    [asked] = openrouter.created
    assert asked["limit"] == 5.0 and asked["limit_reset"] == "monthly"
    assert asked["expires_at"].endswith("Z")  # UTC, as OpenRouter takes it
    expires = datetime.fromisoformat(asked["expires_at"])
    assert before + timedelta(days=30) <= expires <= after + timedelta(days=30)
    [key] = openrouter.keys.values()
    assert (key["limit_reset"], key["expires_at"]) == ("monthly", asked["expires_at"])
    async with db.read() as conn:
        kept = (
            await conn.execute(
                select(UpstreamKey.expires_at).where(
                    UpstreamKey.merchant_id == merchant.merchant_id
                )
            )
        ).scalar_one()
    assert kept == expires

    # The next send sets the limit alone: the key is the one made, its allowance as it was.
    assert (await _send(fulfil_client, merchant, 200))["code"] == 1001
    assert len(openrouter.created) == 1
    assert (key["limit"], key["limit_reset"]) == (7.0, "monthly")


async def test_without_an_allowance_the_key_is_asked_for_as_before_and_keeps_none(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    openrouter_standin: tuple[OpenRouterStandIn, str],
) -> None:
    openrouter, root = openrouter_standin
    merchant = await make_merchant("staging", balance_cents=10_000)
    assert (await _put(fulfil_client, merchant, _setting(root))).status_code == 200
    assert (await _send(fulfil_client, merchant, 300))["code"] == 1001
    assert openrouter.created == [{"name": openrouter.created[0]["name"], "limit": 3.0}]

    # The merchant sets an allowance later: the recipient's key, made before, keeps none.
    later = await _put(
        fulfil_client, merchant, _setting(root, limit_reset="daily", key_expires_after_days=7)
    )
    assert later.status_code == 200, later.text
    assert (await _send(fulfil_client, merchant, 100))["code"] == 1001
    assert len(openrouter.created) == 1
    [key] = openrouter.keys.values()
    assert (key["limit"], key["limit_reset"], key["expires_at"]) == (4.0, None, None)


async def test_bad_values_are_refused_naming_the_field_and_change_nothing(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    openrouter_standin: tuple[OpenRouterStandIn, str],
) -> None:
    _, root = openrouter_standin
    merchant = await make_merchant("staging")
    first = await _put(fulfil_client, merchant, _setting(root, limit_reset="weekly"))
    assert first.status_code == 200, first.text
    cases: list[tuple[str, Any]] = [
        ("limit_reset", "yearly"),
        ("limit_reset", "rolling"),  # a key policy's window, none of OpenRouter's
        ("limit_reset", "Daily"),
        ("limit_reset", ""),
        ("limit_reset", 1),
        ("key_expires_after_days", 0),
        ("key_expires_after_days", 3651),
        ("key_expires_after_days", -1),
        ("key_expires_after_days", "30"),
        ("key_expires_after_days", 1.5),
        ("key_expires_after_days", True),
    ]
    for name, value in cases:
        answer = await _put(fulfil_client, merchant, _setting(root, **{name: value}))
        body = answer.json()
        assert (answer.status_code, body["code"], body["success"]) == (422, 3001, False), (
            name,
            value,
            answer.text,
        )
        # The field named where every validation refusal names it (the body's tag first).
        assert [e["loc"] for e in body["data"]["errors"]] == [["openrouter", name]], body
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(FulfilmentSetting).where(
                    FulfilmentSetting.merchant_id == merchant.merchant_id
                )
            )
        ).one()
    assert (row.limit_reset, row.key_expires_after_days) == ("weekly", None)
    # The edges are taken.
    for days in (1, 3650):
        edge = await _put(fulfil_client, merchant, _setting(root, key_expires_after_days=days))
        assert edge.json()["data"]["key_expires_after_days"] == days


async def test_an_expired_key_takes_no_more_sends(
    fulfil_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    openrouter_standin: tuple[OpenRouterStandIn, str],
) -> None:
    openrouter, root = openrouter_standin
    merchant = await make_merchant("staging", balance_cents=10_000)
    await _put(fulfil_client, merchant, _setting(root, key_expires_after_days=1))
    assert (await _send(fulfil_client, merchant, 400))["code"] == 1001
    [key] = openrouter.keys.values()
    secret = key["secret"]
    async with local_client(base_url=root) as far:
        spender = {"Authorization": f"Bearer {secret}"}
        assert (await far.get("/key", headers=spender)).status_code == 200
        # A day and a second later, OpenRouter refuses every call made with it.
        openrouter.clock = lambda: datetime.now(UTC) + timedelta(days=1, seconds=1)
        refused = await far.get("/key", headers=spender)
        assert refused.status_code == 401
        spent = await far.post("/standin/usage", json={"usd": 0.5}, headers=spender)
        assert spent.status_code == 401
    # The gateway's clock reaches it too: here, the key's expiry moved into the past.
    async with db.transaction() as conn:
        await conn.execute(
            update(UpstreamKey)
            .where(UpstreamKey.merchant_id == merchant.merchant_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    calls = openrouter.faults.calls
    refused_send = await _send(fulfil_client, merchant, 300)
    assert (refused_send["code"], refused_send["status"]) == (4004, "failed"), refused_send
    assert "expired" in refused_send["message"]
    assert openrouter.faults.calls == calls  # nothing asked of OpenRouter: no limit raised
    assert key["limit"] == 4.0
    [failed] = await events_of(db, merchant.merchant_id, "topup.failed")
    assert failed["data"]["failure_reason"] == (
        "failed upstream: The recipient's OpenRouter key has expired: it takes no more credit"
    )
    balance = (await fulfil_client.get("/balance", headers=merchant.headers)).json()["data"]
    assert balance["balance_cents"] == 9_600  # the refused send refunded
    await assert_ledger_balanced(db)


def test_a_keys_figures_in_cents_never_flatter_the_recipient() -> None:
    monthly = figures(
        {
            "limit": 5,
            "limit_remaining": 3.7451,
            "limit_reset": "monthly",
            "usage": 9.1,
            "usage_monthly": 1.2549,
            "expires_at": "2027-12-31T23:59:59Z",
            "disabled": False,
        }
    )
    assert (monthly.used_cents, monthly.limit_cents, monthly.left_cents) == (126, 500, 374)
    assert monthly.limit_reset == "monthly"
    assert monthly.expires_at == datetime(2027, 12, 31, 23, 59, 59, tzinfo=UTC)
    # No reset: the usage of all time; 0.1 + 0.2 dollars is 30 cents, not 31.
    plain = figures({"limit": 1, "limit_remaining": 0.7, "usage": 0.1 + 0.2})
    assert (plain.used_cents, plain.left_cents, plain.limit_reset) == (30, 70, None)
    # Overspent: nothing left, never below zero; no limit: nothing left to say.
    over = figures({"limit": 1, "limit_remaining": -0.25, "usage": 1.25, "disabled": True})
    assert (over.left_cents, over.disabled) == (0, True)
    unlimited = figures({"limit": None, "limit_remaining": None, "usage": 2})
    assert (unlimited.limit_cents, unlimited.left_cents) == (None, None)
    # Without limit_remaining, what the limit leaves; an unknown reset is none.
    guessed = figures({"limit": 2, "usage": 0.5, "limit_reset": "hourly"})
    assert (guessed.left_cents, guessed.limit_reset) == (150, None)
    for bad in ({}, {"usage": True}, {"usage": "1"}, {"usage": float("nan")}):
        with pytest.raises(UpstreamError) as refused:
            figures(bad)
        assert refused.value.outcome == "not_the_provider"
