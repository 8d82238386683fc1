"""A key under a template acts under the one limit that holds both its own and the template's,
on each store, with the send's clock driven: a key's own $10 an hour under a template's $20 in
five hours is refused past its own hour's $10, and a recipient's $5 a day under $20 a week past
the day's $5. Each refusal names the limit it acts under (what ``GET /keys/self`` shows) and
what is left of it."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from gateway.callers import Caller, authenticate
from gateway.store.engine import Database
from tests.fixtures.core import TEST_PEPPER
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.policies import clocked_send, spend_rows

T0 = datetime(2025, 11, 25, 3, 59, 30, tzinfo=UTC)  # a Tuesday, in the minute 03:59
MINUTE, HOUR, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


async def _under_template(
    client: httpx.AsyncClient,
    db: Database,
    owner: MerchantKey,
    template: dict[str, Any],
    own: dict[str, Any],
) -> tuple[Caller, str]:
    """A key with policy ``own`` under a new template ``template``, as it authenticates."""
    made = await client.post(
        "/policy-templates", json={"name": "agents", "policy": template}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    policy = {**own, "template": made.json()["data"]["id"]}
    key = await client.post("/keys", json={"policy": policy}, headers=owner.headers)
    assert key.status_code == 201, key.text
    raw: str = key.json()["data"]["key"]
    return await authenticate(db, TEST_PEPPER.encode(), raw), raw


async def _self(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    reply = await client.get("/keys/self", headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 200, reply.text
    policy: dict[str, Any] = reply.json()["data"]["policy"]
    return policy


async def test_a_keys_rolling_hour_under_a_longer_template_window_holds(
    db: Database, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant(balance_cents=100_000)
    caller, key = await _under_template(
        client,
        db,
        owner,
        {"limits": [{"amount_cents": 2_000, "interval": "rolling", "hours": 5}]},
        {"limits": [{"amount_cents": 1_000, "interval": "rolling", "hours": 1}]},
    )
    # Its own amount over the template's window: no more than $10 in any hour, nor in five.
    acting = [{"amount_cents": 1_000, "interval": "rolling", "hours": 5}]
    assert (await _self(client, key))["limits"] == acting
    send = clocked_send(db, caller)

    assert (await send(600, T0)).code == 1001
    assert (await send(400, T0 + 10 * MINUTE)).code == 1001
    over = await send(1, T0 + 30 * MINUTE)  # within its own hour: the template's $20 would admit
    assert over.code == 2304
    assert over.data == {
        "limit_source": "rolling",
        "limit_cents": 1_000,
        "remaining_cents": 0,
        "resets_at": None,
        "interval": "rolling",
        "hours": 5,
        "frees_at": "2025-11-25T08:59:00Z",  # 03:59, five hours on
    }
    # Its own hour alone would admit again, the template's $20 too: the limit holding both
    # refuses, stricter than each, until its five hours free the first spend.
    assert (await send(1, T0 + HOUR + MINUTE)).code == 2304
    later = T0 + 5 * HOUR + MINUTE  # 03:59's 600 has left; 04:09's 400 has not
    assert (await send(601, later)).code == 2304
    assert (await send(600, later)).code == 1001


async def test_a_recipients_day_under_a_template_week_holds(
    db: Database, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant(balance_cents=100_000)
    caller, key = await _under_template(
        client,
        db,
        owner,
        {"per_recipient_limit": {"amount_cents": 2_000, "interval": "weekly"}},
        {"per_recipient_limit": {"amount_cents": 500, "interval": "daily"}},
    )
    acting = {"amount_cents": 500, "interval": "weekly"}
    assert (await _self(client, key))["per_recipient_limit"] == acting
    send = clocked_send(db, caller)

    assert (await send(500, T0)).code == 1001
    over = await send(1, T0 + HOUR)  # the template's $20 a week would admit it
    assert over.code == 2306
    assert over.data == {
        "limit_source": "per_recipient",
        "limit_cents": 500,
        "remaining_cents": 0,
        "resets_at": "2025-12-01T00:00:00Z",  # the next Monday
        "interval": "weekly",
    }
    # The key's own day alone would admit it the next day: its week does not.
    assert (await send(1, T0 + DAY)).code == 2306
    assert (await send(500, T0 + DAY, "bob")).code == 1001  # another recipient's own week
    assert (await send(500, datetime(2025, 12, 1, tzinfo=UTC))).code == 1001
    rows = await spend_rows(db, caller.key_id)
    assert rows["recipient:weekly:2025-11-24:ann@example.com"] == (500, 500)
    assert rows["recipient:weekly:2025-12-01:ann@example.com"] == (500, 500)


async def test_a_recipients_week_under_a_template_month_counts_for_all_time(
    db: Database, client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    """No calendar window but all time holds a week and a month (a week may span two), and a
    recipient's all-time count is one the store keeps."""
    owner = await make_merchant(balance_cents=100_000)
    caller, _ = await _under_template(
        client,
        db,
        owner,
        {"per_recipient_limit": {"amount_cents": 2_000, "interval": "monthly"}},
        {"per_recipient_limit": {"amount_cents": 500, "interval": "weekly"}},
    )
    send = clocked_send(db, caller)
    assert (await send(500, datetime(2025, 11, 30, 23, tzinfo=UTC))).code == 1001
    # Monday 1 December: a new week and a new month, each of which alone would admit it.
    over = await send(500, datetime(2025, 12, 1, 1, tzinfo=UTC))
    assert over.code == 2306
    assert over.data == {
        "limit_source": "per_recipient",
        "limit_cents": 500,
        "remaining_cents": 0,
        "resets_at": None,
        "interval": "all_time",
    }
    rows = await spend_rows(db, caller.key_id)
    assert rows["recipient:all_time:ann@example.com"] == (500, 500)
