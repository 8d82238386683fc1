"""The worker's side of a payment to a seller, on each store, on a clock the test moves
(``Stepped``): an authorized payment's use looked at (used: ``used`` and its event, what the
seller did not take released), released once at its expiry however many tries race for it, and
a payment left ``pending`` by a request that died made again, or failed and released."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import select

from gateway.callers import authenticate
from gateway.freezes import service as freezes
from gateway.freezes.schemas import FreezeRequest
from gateway.freezes.service import Freezer
from gateway.protocols import registry
from gateway.protocols.base import Demand, Made, Wallet
from gateway.sellers import holds, service, states
from gateway.sellers.authorizing import read
from gateway.sellers.schemas import PaymentCreate
from gateway.store.engine import Database
from gateway.store.states import NoSuchMove
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.clock import Stepped
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET, wait_until
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.policies import set_policy, spend_rows
from tests.fixtures.seller_payments import (
    SELLER,
    events_of,
    leased,
    ledger_kinds,
    pay,
    payment_rows,
    work_of,
)
from tests.fixtures.tally_payer import EndingPayer, RefusingPayer, TallyPayer, challenge
from tests.fixtures.webhooks import fail_leftovers
from tests.fixtures.workers import StartWorker

SEALER = Sealer(TEST_SECRET.encode())
DAILY = {"scopes": ["payments:send"], "limits": [{"amount_cents": 500, "interval": "daily"}]}


async def _try(db: Database, settings: Settings, item: Any, clock: Stepped) -> list[str]:
    return await holds.attempt(db, SEALER, settings, item, lambda: None, now=clock.now)


async def _authorized(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> tuple[Any, str]:
    """A merchant's payment authorized, whose challenge expires in five minutes."""
    await fail_leftovers(db)
    merchant = await make_merchant(balance_cents=1_000)
    await set_policy(db, merchant.key_id, DAILY)
    soon = datetime.now(UTC) + timedelta(minutes=5)
    made = await pay(client, merchant, "h-1", said=challenge(expires=soon))
    assert made.status_code == 201, made.text
    return merchant, made.json()["data"]["id"]


async def test_a_credential_used_moves_to_used_and_says_so(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
    tally: TallyPayer,
) -> None:
    clock = Stepped()
    merchant, payment_id = await _authorized(client, make_merchant, db)
    # Not used yet: looked at again later, nothing moved.
    first = await leased(db, payment_id, clock)
    assert await _try(db, settings, first, clock) == []
    [row] = await payment_rows(db, merchant.merchant_id)
    assert row.status == "authorized"
    work = await work_of(db, payment_id)
    assert (work.status, work.attempts) == ("due", 1)
    assert work.next_attempt_at > clock.now()

    tally.uses[f"ref_{payment_id}"] = ("used", 25)
    await _try(db, settings, await leased(db, payment_id, clock), clock)
    [row] = await payment_rows(db, merchant.merchant_id)
    assert (row.status, row.used_cents) == ("used", 25)
    assert (await work_of(db, payment_id)).status == "done"
    assert [kind for kind, _ in await events_of(db, merchant.merchant_id)] == [
        "payment.authorized",
        "payment.used",
    ]
    assert await merchant_balance(db, merchant) == 975
    assert await ledger_kinds(db, merchant.merchant_id) == [("payment_debit", -25)]
    await assert_ledger_balanced(db)


async def test_what_the_seller_did_not_take_is_released(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
    tally: TallyPayer,
) -> None:
    clock = Stepped()
    merchant, payment_id = await _authorized(client, make_merchant, db)
    tally.uses[f"ref_{payment_id}"] = ("used", 10)
    await _try(db, settings, await leased(db, payment_id, clock), clock)
    [row] = await payment_rows(db, merchant.merchant_id)
    assert (row.status, row.used_cents) == ("used", 10)
    assert await merchant_balance(db, merchant) == 990
    assert await ledger_kinds(db, merchant.merchant_id) == [
        ("payment_debit", -25),
        ("payment_release", 15),
    ]
    assert [spent for spent, _ in (await spend_rows(db, merchant.key_id)).values()] == [10]
    [_, (kind, payload)] = await events_of(db, merchant.merchant_id)
    assert kind == "payment.used" and '"used_cents":10' in payload
    await assert_ledger_balanced(db)


async def test_an_unused_credential_is_ended_and_released_once_at_its_expiry(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
    tally: TallyPayer,
) -> None:
    clock = Stepped()
    merchant, payment_id = await _authorized(client, make_merchant, db)
    [row] = await payment_rows(db, merchant.merchant_id)
    clock.advance((states.release_at(row.expires_at) - clock.now()).total_seconds())
    item = await leased(db, payment_id, clock)
    # Two tries of the one lease race: the lease lets one record, the move moves once.
    await asyncio.gather(_try(db, settings, item, clock), _try(db, settings, item, clock))
    assert tally.revoked.count(f"ref_{payment_id}") >= 1
    [row] = await payment_rows(db, merchant.merchant_id)
    assert row.status == "released"
    assert await merchant_balance(db, merchant) == 1_000
    assert await ledger_kinds(db, merchant.merchant_id) == [
        ("payment_debit", -25),
        ("payment_release", 25),
    ]
    assert [spent for spent, _ in (await spend_rows(db, merchant.key_id)).values()] == [0]
    assert [kind for kind, _ in await events_of(db, merchant.merchant_id)] == [
        "payment.authorized",
        "payment.released",
    ]
    assert (await work_of(db, payment_id)).status == "done"
    await assert_ledger_balanced(db)


async def test_two_releases_racing_credit_the_wallet_once(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    tally: TallyPayer,
) -> None:
    """The move itself, without the lease: two transactions moving one payment from
    ``authorized`` to ``released`` at once; one moves it, the other finds it moved."""
    merchant, payment_id = await _authorized(client, make_merchant, db)
    async with db.read() as conn:
        row = await read(conn, payment_id)

    async def release() -> list[str] | None:
        async with db.transaction() as conn:
            return await states.move(conn, row, states.RELEASED, row.expires_at)

    moved = await asyncio.gather(*(release() for _ in range(4)))
    assert sum(m is not None for m in moved) == 1
    assert await merchant_balance(db, merchant) == 1_000
    assert await ledger_kinds(db, merchant.merchant_id) == [
        ("payment_debit", -25),
        ("payment_release", 25),
    ]
    # Every other pair the table does not name changes nothing.
    with pytest.raises(NoSuchMove):
        async with db.transaction() as conn:
            await states.move(conn, await read(conn, payment_id), states.USED, row.expires_at)
    await assert_ledger_balanced(db)


class _Dying(TallyPayer):
    """A process that dies while its credential is being made: nothing after the debit ran."""

    async def make(self, wallet: Wallet, demand: Demand, *, payment_id: str) -> Made:
        self.makes.append(payment_id)
        raise asyncio.CancelledError


async def _left_pending(
    db: Database, settings: Settings, make_merchant: MakeMerchant
) -> tuple[MerchantKey, Any]:
    """A merchant of $10 (no other payment left over) and its payment debited and written
    ``pending`` under key ``d-1``, by a request whose process died while its credential was
    being made: the merchant's key, and the payment's row."""
    await fail_leftovers(db)
    merchant = await make_merchant(balance_cents=1_000)
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    body = PaymentCreate.model_validate({"url": SELLER, "challenge": challenge()})
    with registry.paying(_Dying()), pytest.raises(asyncio.CancelledError):
        await service.pay(db, SEALER, settings, caller, body, idempotency_key="d-1")
    [row] = await payment_rows(db, merchant.merchant_id)
    return merchant, row


async def test_a_payment_left_pending_is_made_again_by_the_worker(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, settings: Settings
) -> None:
    clock = Stepped()
    merchant, row = await _left_pending(db, settings, make_merchant)
    assert row.status == "pending" and await merchant_balance(db, merchant) == 975
    # Its key answers that it is being authorized.
    with registry.paying(TallyPayer()) as added:
        tally = cast(TallyPayer, added)
        early = await pay(client, merchant, "d-1")
        assert (early.status_code, early.json()["code"]) == (409, 4641)
        assert early.json()["data"] == {"id": row.id, "status": "pending"}
        # Not before its deadline: the request's own try has it until then.
        assert (await work_of(db, row.id)).next_attempt_at >= row.created_at + timedelta(
            seconds=settings.payment_timeout_seconds
        )
        await _try(db, settings, await leased(db, row.id, clock), clock)
        assert tally.makes == [row.id]
        [row] = await payment_rows(db, merchant.merchant_id)
        assert row.status == "authorized"
        # The credential the worker made is what the key answers now, once debited.
        late = await pay(client, merchant, "d-1")
        assert (late.status_code, late.json()["code"]) == (201, 1170)
        assert late.json()["data"]["value"] == tally.made[row.id].value
    assert await merchant_balance(db, merchant) == 975
    assert (await work_of(db, row.id)).status == "due"  # its use is looked at next
    await assert_ledger_balanced(db)


async def test_a_payment_left_pending_whose_provider_refuses_is_failed_and_released(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, settings: Settings
) -> None:
    clock = Stepped()
    merchant, row = await _left_pending(db, settings, make_merchant)
    with registry.paying(RefusingPayer()):
        await _try(db, settings, await leased(db, row.id, clock), clock)
        again = await pay(client, merchant, "d-1")
    assert (again.status_code, again.json()["code"]) == (502, 4107)
    [row] = await payment_rows(db, merchant.merchant_id)
    assert row.status == "failed"
    assert await merchant_balance(db, merchant) == 1_000
    assert (await work_of(db, row.id)).status == "done"
    await assert_ledger_balanced(db)


async def test_a_payment_left_pending_in_a_frozen_environment_is_released_unmade(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, settings: Settings
) -> None:
    clock = Stepped()
    merchant, row = await _left_pending(db, settings, make_merchant)
    assert (await client.post("/freeze", json={}, headers=merchant.headers)).status_code == 200
    with registry.paying(TallyPayer()) as added:
        await _try(db, settings, await leased(db, row.id, clock), clock)
        assert cast(TallyPayer, added).makes == []
    [row] = await payment_rows(db, merchant.merchant_id)
    assert (row.status, row.failure_reason[:4]) == ("failed", "2360")
    assert await merchant_balance(db, merchant) == 1_000
    await assert_ledger_balanced(db)


async def test_the_runner_serves_payments_on_its_clock(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    start_worker: StartWorker,
    tally: TallyPayer,
) -> None:
    """The kind as the worker runs it: its lane leases the payment's work when due on the
    worker's clock, and the try records the use."""
    clock = Stepped()
    await start_worker(seams={"clock": clock})
    merchant = await make_merchant(balance_cents=1_000)
    made = await pay(client, merchant, "r-1")
    payment_id = made.json()["data"]["id"]
    tally.uses[f"ref_{payment_id}"] = ("used", 25)
    clock.advance(states.LOOKS[0] + 1)

    async def used() -> bool:
        [row] = await payment_rows(db, merchant.merchant_id)
        return bool(row.status == "used")

    await wait_until(used)
    async with db.read() as conn:
        from gateway.store.models import SellerPaymentWork, table_of

        work = table_of(SellerPaymentWork)
        done = await conn.execute(select(work.c.status).where(work.c.payment_id == payment_id))
        assert done.scalar_one() == "done"


@pytest.mark.parametrize("ends", [True, False], ids=["provider-ends-it", "provider-cannot"])
async def test_a_freeze_ends_authorized_credentials_where_their_provider_can(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
    ends: bool,
) -> None:
    """The kill switch makes every authorized payment's work due at once: a credential its
    provider ends is released now, its amount back once; one it cannot end (an x402
    authorization) stays held until its expiry, since a seller may still take it."""
    with registry.paying(EndingPayer() if ends else TallyPayer()) as added:
        payer = cast(TallyPayer, added)
        clock = Stepped()
        merchant, payment_id = await _authorized(client, make_merchant, db)
        first = await leased(db, payment_id, clock)  # a look before: due again later
        assert await _try(db, settings, first, clock) == []
        assert (await work_of(db, payment_id)).next_attempt_at > clock.now()
        who = Freezer(merchant.merchant_id, merchant.env, "test")
        await freezes.freeze(db, SEALER, who, FreezeRequest(), now=clock.now())
        assert (await work_of(db, payment_id)).next_attempt_at <= clock.now()
        await _try(db, settings, await leased(db, payment_id, clock), clock)
        assert payer.revoked == [f"ref_{payment_id}"]
        [row] = await payment_rows(db, merchant.merchant_id)
        if ends:
            assert row.status == "released"
            assert await merchant_balance(db, merchant) == 1_000
            assert (await work_of(db, payment_id)).status == "done"
        else:
            assert row.status == "authorized"
            assert await merchant_balance(db, merchant) == 975
            assert (await work_of(db, payment_id)).next_attempt_at > clock.now()
    await assert_ledger_balanced(db)


@pytest.mark.parametrize("readable", [True, False], ids=["read-again", "no-longer-read"])
async def test_a_payment_kept_from_before_the_bounds_is_ended_at_todays_bound(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
    tally: TallyPayer,
    readable: bool,
) -> None:
    """A payment written before expiries were bounded holds until its seller's year 2200, and
    one whose challenge its payer no longer reads was asked about for ever: each is ended at
    today's bound (``LONGEST_CHALLENGE_SECONDS`` from when it was written), given back once."""
    from gateway.store.models import SellerPayment, table_of

    clock = Stepped()
    merchant, payment_id = await _authorized(client, make_merchant, db)
    kept: dict[str, Any] = {"expires_at": datetime(2200, 1, 1, tzinfo=UTC)}
    if not readable:
        kept["challenge"] = "Legacy amount=25"  # what no payer reads any more
    payments = table_of(SellerPayment)
    async with db.transaction() as conn:
        await conn.execute(payments.update().where(payments.c.id == payment_id).values(**kept))
    [row] = await payment_rows(db, merchant.merchant_id)
    bound = states.release_at(states.held_until(row))
    assert bound < datetime(2100, 1, 1, tzinfo=UTC)
    item = await leased(db, payment_id, clock)
    await _try(db, settings, item, clock)  # before the bound: still held
    assert (await payment_rows(db, merchant.merchant_id))[0].status == "authorized"
    clock.advance((bound - clock.now()).total_seconds())
    item = await leased(db, payment_id, clock)
    await _try(db, settings, item, clock)
    [row] = await payment_rows(db, merchant.merchant_id)
    assert row.status == "released"
    assert await merchant_balance(db, merchant) == 1_000
    # Read again, its provider is asked to end it; unread, nothing can ask it.
    assert (f"ref_{payment_id}" in tally.revoked) is readable
    await assert_ledger_balanced(db)
