"""The Wallet page's check-in and test clock forms: each acts through the API's operation and
sends the browser back with a fixed sentence; a second check-in, a bad number of days and a
clock past its bound change nothing; live has no clock."""

import re
from html import unescape

import httpx
import pytest
from sqlalchemy import select, update

from gateway.billing.sandbox_clock import MAX_OFFSET_SECONDS
from gateway.store.engine import Database
from gateway.store.models import Merchant, SandboxClock, table_of
from tests.fixtures.dashboard import SignUp

_M = table_of(Merchant)
_C = table_of(SandboxClock)

WALLET = "/wallet"


async def _after(account_client: httpx.AsyncClient, reply: httpx.Response) -> str:
    assert reply.status_code == 303, reply.text
    location = reply.headers["location"]
    assert location.startswith("/dashboard/wallet?")
    page = await account_client.get(location.removeprefix("/dashboard"))
    assert page.status_code == 200
    return page.text


async def test_check_in_once_a_day_and_the_clock_refusals(sign_up: SignUp, db: Database) -> None:
    account = await sign_up()
    first = await _after(account.client, await account.post("/wallet/checkin", {}, page=WALLET))
    assert "Checked in: the reward is in your wallet." in first
    assert 'id="checkin-reward"' in first and 'id="checkin-button"' not in first
    again = await _after(account.client, await account.post("/wallet/checkin", {}, page=WALLET))
    assert "Already checked in today." in again
    assert again.count("check-in credit") == 1  # one ledger entry

    for bad in ("0", "401", "-1", "abc", "", "1.5", "²"):
        refused = await account.post("/wallet/clock/advance", {"days": bad}, page=WALLET)
        shown = await _after(account.client, refused)
        assert "Enter a whole number of days, 1 to 400." in shown, bad
        assert "(0 days ahead of real time)" in shown, bad
    moved = await account.post("/wallet/clock/advance", {"days": "1"}, page=WALLET)
    shown = await _after(account.client, moved)
    assert "(1 day ahead of real time)" in shown
    # A relative time on the page ("in 2 d") counts from the clock's time, and the page says so:
    # the clock's own time is "just now", not a day ahead.
    assert 'id="clock-relative">Relative times on this page' in shown
    assert "count from this clock's time" in unescape(shown)
    clock_now = re.search(r'id="clock-now">([^<]*)<', shown)
    assert clock_now is not None and clock_now.group(1).endswith("(just now)"), clock_now
    assert 'id="checkin-button"' in shown  # the next day opened
    moved = await account.post("/wallet/clock/advance", {"days": "1"}, page=WALLET)
    assert "(2 days ahead of real time)" in await _after(account.client, moved)
    # Half a day short of its bound, as many advances would leave it.
    async with db.transaction() as conn:
        merchant_id = (
            await conn.execute(select(_M.c.id).where(_M.c.name == account.merchant_name))
        ).scalar_one()
        await conn.execute(
            update(_C)
            .where(_C.c.merchant_id == merchant_id)
            .values(offset_seconds=MAX_OFFSET_SECONDS - 43_200)
        )
    moved = await account.post("/wallet/clock/advance", {"days": "1"}, page=WALLET)
    shown = await _after(account.client, moved)
    assert "cannot run more than 10 years ahead" in shown

    assert (await account.post("/env", {"env": "live"})).status_code == 303
    live = await account.client.get(WALLET)
    assert 'id="test-clock"' not in live.text
    assert "Daily check-in is off in this environment." in live.text
    off = await _after(account.client, await account.post("/wallet/checkin", {}, page=WALLET))
    assert "Daily check-in is off in this environment." in off
    refused = await account.post("/wallet/clock/advance", {"days": "1"}, page=WALLET)
    assert refused.status_code == 403


@pytest.mark.both_stores
async def test_the_clock_form_is_throttled_with_the_api(sign_up: SignUp) -> None:
    """The form counts in the API's bucket: the eleventh advance of a minute says so and moves
    nothing."""
    account = await sign_up()
    for day in range(1, 11):
        moved = await account.post("/wallet/clock/advance", {"days": "1"}, page=WALLET)
        days = "1 day" if day == 1 else f"{day} days"
        assert f"({days} ahead of real time)" in await _after(account.client, moved)
    refused = await account.post("/wallet/clock/advance", {"days": "1"}, page=WALLET)
    shown = await _after(account.client, refused)
    assert "The test clock was advanced too often; try again in a minute." in shown
    assert "(10 days ahead of real time)" in shown
