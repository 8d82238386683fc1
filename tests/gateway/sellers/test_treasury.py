"""The operator's treasury on a rail, on both stores: its float set by the admin API (and
``aitopup treasury``), reserved by each payment from a wallet and refused past it (``4671``:
nothing debited, nothing written); its ledger paid out, used and released as the worker learns
what the seller took; its level read as low; and a payment the merchant's own instrument pays
never touching it. Paid in Tally, the tests' own protocol, on a clock the test moves."""

import asyncio
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from gateway.sellers import reconcile
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.clock import Stepped
from tests.fixtures.commands import aitopup
from tests.fixtures.core import TEST_SECRET, asgi_client, local_client, running_app
from tests.fixtures.merchants import MakeMerchant, merchant_balance
from tests.fixtures.paying_gateway import makes
from tests.fixtures.policies import set_policy, two_gateways
from tests.fixtures.seller_payments import pay, payment_rows, written
from tests.fixtures.tally_payer import TallyPayer
from tests.fixtures.treasury import RAIL, mine, paying_merchant, used

SEALER = Sealer(TEST_SECRET.encode())
SHORT, AUTHORIZED = 4671, 1170


async def test_the_float_bounds_what_the_treasury_has_out_and_its_ledger_follows_each_payment(
    client: httpx.AsyncClient,
    admin_client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
    rail: None,
) -> None:
    merchant = await paying_merchant(make_merchant, db, 1_000)
    unbounded = mine((await admin_client.get("/treasury")).json()["data"])
    assert (unbounded["float_cents"], unbounded["available_cents"]) == (None, None)
    bad = await admin_client.put("/treasury", json={**RAIL, "float_cents": -1, "low_cents": 0})
    assert bad.status_code == 422, bad.text
    set_ = await admin_client.put("/treasury", json={**RAIL, "float_cents": 50, "low_cents": 30})
    assert set_.status_code == 200, set_.text

    first = await pay(client, merchant, "t-1")
    second = await pay(client, merchant, "t-2")
    assert (first.status_code, second.status_code) == (201, 201), second.text
    before = await written(db, merchant)
    over = await pay(client, merchant, "t-3")
    assert (over.status_code, over.json()["code"]) == (503, SHORT), over.text
    assert await written(db, merchant) == before  # nothing debited, counted or written
    assert await merchant_balance(db, merchant) == 950
    state = mine((await admin_client.get("/treasury")).json()["data"])
    assert (state["outstanding_cents"], state["available_cents"], state["low"]) == (50, 0, True)
    assert state["paid_out_cents"] == 50

    # The seller took 10 of the first: 10 used, 15 released, its 25 out no more.
    clock = Stepped()
    payment_id = first.json()["data"]["id"]
    tally.uses[f"ref_{payment_id}"] = ("used", 10)
    await used(db, settings, payment_id, clock)
    state = mine((await admin_client.get("/treasury")).json()["data"])
    assert (state["used_cents"], state["released_cents"]) == (10, 15)
    assert (state["outstanding_cents"], state["available_cents"]) == (25, 25)
    again = await pay(client, merchant, "t-4")
    assert again.status_code == 201, again.text

    # The merchant's own instrument pays past the float: the treasury is not reached.
    own_rail = {"protocol": "tally", "funded_by": "own"}
    chosen = await client.put("/payments/funding", json=own_rail, headers=merchant.headers)
    assert chosen.status_code == 403  # a key holding payments:send alone never chooses
    owner = await make_merchant("staging", merchant_id=merchant.merchant_id)
    chosen = await client.put("/payments/funding", json=own_rail, headers=owner.headers)
    assert chosen.status_code == 200, chosen.text
    own = await pay(client, merchant, "t-5")
    assert own.status_code == 201, own.text
    assert own.json()["data"]["funded_by"] == "own"
    assert await merchant_balance(db, merchant) == 990 - 25 - 25  # the own payment: not debited
    state = mine((await admin_client.get("/treasury")).json()["data"])
    assert (state["outstanding_cents"], state["paid_out_cents"]) == (50, 75)
    assert [row.funded_by for row in await payment_rows(db, merchant.merchant_id)] == [
        "wallet",
        "wallet",
        "wallet",
        "own",
    ]


async def test_aitopup_treasury_prints_and_sets_a_rail(
    db: Database, settings: Settings, tmp_path: Path, rail: None
) -> None:
    code, out, err = await aitopup(
        settings, tmp_path, "treasury", "--env", "staging", "--protocol", "tally", "--float", "100"
    )
    assert code == 2 and "also give low_cents" in err
    code, out, err = await aitopup(
        settings,
        tmp_path,
        "treasury",
        "--env",
        "staging",
        "--protocol",
        "tally",
        "--float",
        "100",
        "--low",
        "20",
    )
    assert code == 0, err
    assert (
        "staging tally: float 100, out 0, available 100; paid out 0, used 0, released 0 cents"
        in out.splitlines()
    )


@pytest.mark.xdist_group("concurrency")
async def test_payments_racing_for_the_float_never_pass_it(
    live_url: str,
    admin_client: httpx.AsyncClient,
    db: Database,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
    rail: None,
) -> None:
    """Thirty payments of 25 cents in flight together on a real server against a float of 250:
    ten are paid, twenty refused with 4671; the wallet is debited ten times, no more."""
    merchant = await paying_merchant(make_merchant, db, 10_000)
    set_ = await admin_client.put("/treasury", json={**RAIL, "float_cents": 250, "low_cents": 0})
    assert set_.status_code == 200, set_.text
    async with local_client(base_url=live_url, timeout=60) as http:
        replies = await asyncio.gather(*(pay(http, merchant, f"race-{n}") for n in range(30)))
    codes = Counter(int(reply.json()["code"]) for reply in replies)
    assert codes == {AUTHORIZED: 10, SHORT: 20}, codes
    assert len(await payment_rows(db, merchant.merchant_id)) == 10
    assert await merchant_balance(db, merchant) == 10_000 - 250
    state = mine((await admin_client.get("/treasury")).json()["data"])
    assert (state["outstanding_cents"], state["paid_out_cents"]) == (250, 250)


@pytest.mark.xdist_group("concurrency")
async def test_payments_racing_for_the_float_across_two_gateway_processes_never_pass_it(
    admin_client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_merchant: MakeMerchant,
    tmp_path: Path,
    rail: None,
) -> None:
    """The same race through two gateway processes of their own, one float between them:
    ten of thirty paid, each provider call once, the wallet debited ten times."""
    merchant = await paying_merchant(make_merchant, db, 10_000)
    set_ = await admin_client.put("/treasury", json={**RAIL, "float_cents": 250, "low_cents": 0})
    assert set_.status_code == 200, set_.text
    paying = "tests.fixtures.paying_gateway"
    async with (
        two_gateways(db, settings, tmp_path, module=paying) as apis,
        AsyncExitStack() as stack,
    ):
        clients = [
            await stack.enter_async_context(local_client(base_url=api, timeout=60)) for api in apis
        ]
        replies = await asyncio.gather(
            *(pay(clients[n % 2], merchant, f"race2-{n}") for n in range(30))
        )
    codes = Counter(int(reply.json()["code"]) for reply in replies)
    assert codes == {AUTHORIZED: 10, SHORT: 20}, codes
    rows = await payment_rows(db, merchant.merchant_id)
    assert len(rows) == 10
    assert sorted(makes(tmp_path)) == sorted(row.id for row in rows)
    assert await merchant_balance(db, merchant) == 10_000 - 250
    state = mine((await admin_client.get("/treasury")).json()["data"])
    assert (state["outstanding_cents"], state["paid_out_cents"]) == (250, 250)


async def test_one_merchant_has_out_at_most_its_share_of_the_float(
    admin_client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
    rail: None,
) -> None:
    """The float is every merchant's: at a share of 25%, thirty payments of 25 cents racing
    from one merchant against a float of 1,000 are ten paid, twenty refused 4671 with its
    share, nothing debited for them; another merchant's payment still goes."""
    shared = settings.model_copy(update={"treasury_merchant_share_percent": 25})
    set_ = await admin_client.put("/treasury", json={**RAIL, "float_cents": 1_000, "low_cents": 0})
    assert set_.status_code == 200, set_.text
    greedy = await make_merchant(balance_cents=10_000)
    other = await make_merchant(balance_cents=10_000)
    for merchant in (greedy, other):
        await set_policy(db, merchant.key_id, {"scopes": ["payments:send"]})
    async with running_app(shared) as app, asgi_client(app) as http:
        replies = await asyncio.gather(*(pay(http, greedy, f"share-{n}") for n in range(30)))
        codes = Counter(int(reply.json()["code"]) for reply in replies)
        assert codes == {AUTHORIZED: 10, SHORT: 20}, codes
        refusal = next(r.json() for r in replies if r.json()["code"] == SHORT)
        assert refusal["data"]["share_cents"] == 250
        assert len(await payment_rows(db, greedy.merchant_id)) == 10
        assert await merchant_balance(db, greedy) == 10_000 - 250
        theirs = await pay(http, other, "share-other")
        assert theirs.json()["code"] == AUTHORIZED, theirs.text


async def test_reconciliation_reports_what_the_provider_says_the_ledger_has_not_caught_up_with(
    client: httpx.AsyncClient,
    db: Database,
    settings: Settings,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
    rail: None,
) -> None:
    merchant = await paying_merchant(make_merchant, db, 1_000)
    paid = await pay(client, merchant, "r-1")
    assert paid.status_code == 201, paid.text
    payment_id = paid.json()["data"]["id"]
    mine = [
        d
        for d in await reconcile.drifts(db, SEALER, settings, utcnow())
        if d.payment_id == payment_id
    ]
    assert mine == []  # unused at the provider, authorized here: they agree

    tally.uses[f"ref_{payment_id}"] = ("used", 20)  # the seller took 20 at the provider
    [drift] = [
        d
        for d in await reconcile.drifts(db, SEALER, settings, utcnow())
        if d.payment_id == payment_id
    ]
    assert (drift.ledger, drift.provider) == ("authorized 0", "used 20")
    await used(db, settings, payment_id, Stepped())  # the worker learns it
    after = await reconcile.drifts(db, SEALER, settings, utcnow())
    assert [d for d in after if d.payment_id == payment_id] == []
