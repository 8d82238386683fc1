"""A key's limits hold under real concurrent requests: never a cent over, on either store, and
on PostgreSQL across two gateway processes.

60 sends of 100 cents race for a limit of 2,000 with a wallet of 100,000: exactly 20 go
through, and every other one is refused with the limit's code, nothing left and the window's
reset (a rolling window's: when its oldest spend frees). Sixty are enough: all are in flight
together, three for each send the limit admits, so a limit read before another send's spend
commits lets a 21st through.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gateway.policies.windows import frees_at
from gateway.store.engine import Database
from gateway.values.clock import rfc3339, utcnow
from gateway.values.settings import Settings
from tests.fixtures.core import local_client
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced, merchant_balance
from tests.fixtures.policies import gateway_processes, set_policy, spend_rows

# Three times what the limit admits, all in flight together.
SENDS, AMOUNT, LIMIT = 60, 100, 2_000


def _next_midnight() -> str:
    now = utcnow()
    return rfc3339(datetime(now.year, now.month, now.day, tzinfo=UTC) + timedelta(days=1))


POLICIES: dict[str, tuple[dict[str, Any], int, str | None]] = {
    # name: (policy, refusal code, limit_source)
    "daily": ({"limits": [{"amount_cents": LIMIT, "interval": "daily"}]}, 2304, "daily"),
    "all_time": ({"limits": [{"amount_cents": LIMIT, "interval": "all_time"}]}, 2304, "all_time"),
    "rolling": (
        {"limits": [{"amount_cents": LIMIT, "interval": "rolling", "hours": 5}]},
        2304,
        "rolling",
    ),
    "per_recipient": (
        {"per_recipient_limit": {"amount_cents": LIMIT, "interval": "daily"}},
        2306,
        "per_recipient",
    ),
}


async def _race(roots: list[str], headers: dict[str, str]) -> list[dict[str, Any]]:
    """``SENDS`` sends to one recipient, spread over ``roots``, all in flight together."""
    recipient = f"race-{uuid.uuid4().hex[:8]}@example.com"
    body = {"platform": "claude", "amount_cents": AMOUNT, "recipient_email": recipient}
    clients = [
        local_client(base_url=root, timeout=60, limits=httpx.Limits(max_connections=100))
        for root in roots
    ]
    try:
        replies = await asyncio.gather(
            *(
                clients[i % len(clients)].post("/topup/send", json=body, headers=headers)
                for i in range(SENDS)
            )
        )
    finally:
        for client in clients:
            await client.aclose()
    return [r.json() for r in replies]


async def _check(db: Database, replies: list[dict[str, Any]], merchant: Any, name: str) -> None:
    _, code, source = POLICIES[name]
    delivered = [r for r in replies if r["code"] == 1001]
    refused = [r for r in replies if r["code"] == code]
    assert len(delivered) == LIMIT // AMOUNT
    assert len(refused) == SENDS - len(delivered), {r["code"] for r in replies}
    resets = None if name in ("all_time", "rolling") else _next_midnight()
    for reply in refused:
        assert reply["data"]["limit_source"] == source
        assert reply["data"]["remaining_cents"] == 0
        assert reply["data"]["limit_cents"] == LIMIT
        assert reply["data"]["resets_at"] == resets
    assert await merchant_balance(db, merchant) == 100_000 - LIMIT
    spent = await spend_rows(db, merchant.key_id)
    if name == "rolling":  # the head, and the minutes the race spanned
        assert spent.pop("rolling") == (0, 0)
        assert {reply["data"]["frees_at"] for reply in refused} <= {
            rfc3339(frees_at(bucket, 5)) for bucket in spent
        }
        assert sum(s for s, _ in spent.values()) == LIMIT
    else:
        assert [s for s, _ in spent.values()] == [LIMIT]
    await assert_ledger_balanced(db)


@pytest.mark.parametrize("name", list(POLICIES))
async def test_a_limit_admits_exactly_what_it_allows(
    db: Database, make_merchant: MakeMerchant, live_url: str, name: str
) -> None:
    merchant = await make_merchant(balance_cents=100_000)
    await set_policy(db, merchant.key_id, POLICIES[name][0])
    replies = await _race([live_url], merchant.headers)
    await _check(db, replies, merchant, name)


# A rolling window queues on a lock of the store's, as much one process's connections as two
# processes' (its racers in different minutes: ``test_rolling``).
@pytest.mark.parametrize("name", [name for name in POLICIES if name != "rolling"])
async def test_a_limit_holds_across_two_gateway_processes(
    db: Database,
    two_gateways: list[str],
    make_merchant: MakeMerchant,
    name: str,
) -> None:
    merchant = await make_merchant(balance_cents=100_000)
    await set_policy(db, merchant.key_id, POLICIES[name][0])
    replies = await _race(two_gateways, merchant.headers)
    await _check(db, replies, merchant, name)


@pytest.fixture(scope="module")
async def two_gateways(
    db: Database, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[list[str]]:
    """Two gateway processes on PostgreSQL, started once for every limit raced across them: each
    race is a merchant and a key of its own, so none sees another's spend."""
    if db.is_sqlite:
        pytest.skip("several gateway processes share PostgreSQL, not an embedded file")
    folder = tmp_path_factory.mktemp("gateways")
    async with gateway_processes(settings, folder, 2) as roots:
        yield roots
