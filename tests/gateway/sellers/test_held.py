"""Payments to sellers a key's policy holds for approval, on each store: debited and held (202,
nothing made) until a key with the ``approvals`` scope approves (its credential made, shown on
the agent's replay as the 201 shows it) or denies it (released once, the replay says so); a
payee the key never paid is held until it has been; an approval after the seller's challenge
expired releases it; the kill switch keeps or cancels held payments; the worker expires one
not decided in its window, once, on a clock the test moves."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from gateway.approvals.held import describe
from gateway.mail.content import expires_text
from gateway.mail.render import render
from gateway.sellers import holds, states
from gateway.sellers.hold import PAYMENTS
from gateway.store.engine import Database
from gateway.store.models import SellerPayment, SellerPaymentWork, table_of
from gateway.store.queue import lease
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from gateway.webhooks.event_types import validate_body
from keys import Sealer
from tests.fixtures.clock import Stepped
from tests.fixtures.core import TEST_SECRET
from tests.fixtures.held_payments import HOLDING, NEW_PAYEES, agent_and_approver, held, status_of
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.policies import spend_rows
from tests.fixtures.seller_payments import events_of, ledger_kinds, pay, payment_rows, work_of
from tests.fixtures.tally_payer import TallyPayer, challenge

_P, _W = table_of(SellerPayment), table_of(SellerPaymentWork)
AUTHORIZED, APPROVED, DENIED, NOT_AWAITING = 1170, 1171, 1172, 4643
APPROVAL_DENIED, APPROVAL_EXPIRED, CHALLENGE_EXPIRED = 4644, 4645, 4502
DAILY = [{"amount_cents": 500, "interval": "daily"}]


async def _decide(
    client: httpx.AsyncClient, who: MerchantKey, payment_id: str, verb: str
) -> httpx.Response:
    return await client.post(f"/payments/{payment_id}/{verb}", headers=who.headers)


async def _held_cents(client: httpx.AsyncClient, who: MerchantKey) -> tuple[int, int]:
    found = (await client.get("/balance", headers=who.headers)).json()["data"]
    return found["balance_cents"], found["held_cents"]


async def _events(db: Database, merchant_id: str) -> list[str]:
    found = await events_of(db, merchant_id)
    for kind, payload in found:
        validate_body(kind, payload)
    return [kind for kind, _ in found]


async def test_a_held_payment_is_made_only_once_approved_and_replayed_as_made(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    agent, approver = await agent_and_approver(make_merchant, db)
    payment_id = await held(client, agent, "h-1")
    assert tally.makes == []
    [row] = await payment_rows(db, agent.merchant_id)
    assert row.status == "pending_approval" and row.approval_expires_at > utcnow()
    assert await _held_cents(client, approver) == (975, 25)
    assert await _events(db, agent.merchant_id) == ["payment.pending_approval"]
    # The work falls due when the window closes: the worker expires it then.
    assert (await work_of(db, payment_id)).next_attempt_at == row.approval_expires_at

    # Until decided, its replay answers the same 202, and nothing is made.
    again = await pay(client, agent, "h-1")
    assert again.status_code == 202 and again.headers.get("idempotent-replayed") == "true"
    assert again.json()["data"]["id"] == payment_id
    shown = (await client.get(f"/payments/{payment_id}", headers=agent.headers)).json()["data"]
    assert shown["status"] == "pending_approval" and shown["approval_expires_at"]
    # The paying key holds no approvals scope.
    own = await _decide(client, agent, payment_id, "approve")
    assert (own.status_code, own.json()["code"]) == (403, 2301)

    approved = await _decide(client, approver, payment_id, "approve")
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert (body["code"], body["status"], body["data"]["status"]) == (
        APPROVED,
        "authorized",
        "authorized",
    )
    assert "value" not in body["data"]  # the credential is the agent's alone
    assert tally.makes == [payment_id]
    assert await status_of(db, payment_id) == ("authorized", approver.key_id)

    # The agent's replay now answers the credential, as the 201 shows it.
    made = await pay(client, agent, "h-1")
    assert (made.status_code, made.json()["code"]) == (201, AUTHORIZED)
    assert made.json()["data"]["value"] == tally.made[payment_id].value
    assert tally.makes == [payment_id]
    assert await _events(db, agent.merchant_id) == [
        "payment.pending_approval",
        "payment.authorized",
    ]
    assert await _held_cents(client, approver) == (975, 25)  # authorized, not yet used
    late = await _decide(client, approver, payment_id, "deny")
    assert (late.status_code, late.json()["code"]) == (409, NOT_AWAITING)
    assert late.json()["data"]["status"] == "authorized"
    assert await ledger_kinds(db, agent.merchant_id) == [("payment_debit", -25)]
    await assert_ledger_balanced(db)


async def test_a_denied_payment_is_released_once_and_its_replay_says_so(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    agent, approver = await agent_and_approver(make_merchant, db, {**HOLDING, "limits": DAILY})
    payment_id = await held(client, agent, "d-1")
    assert [spent for spent, _ in (await spend_rows(db, agent.key_id)).values()] == [25]

    denied = await _decide(client, approver, payment_id, "deny")
    assert denied.status_code == 200, denied.text
    assert (denied.json()["code"], denied.json()["status"]) == (DENIED, "denied")
    for verb in ("deny", "approve"):  # decided: nothing more moves it
        again = await _decide(client, approver, payment_id, verb)
        assert (again.status_code, again.json()["code"]) == (409, NOT_AWAITING)
    assert await _held_cents(client, approver) == (1_000, 0)
    assert [spent for spent, _ in (await spend_rows(db, agent.key_id)).values()] == [0]
    assert await ledger_kinds(db, agent.merchant_id) == [
        ("payment_debit", -25),
        ("payment_release", 25),
    ]
    assert await _events(db, agent.merchant_id) == ["payment.pending_approval", "payment.denied"]
    replay = await pay(client, agent, "d-1")
    assert (replay.status_code, replay.json()["code"]) == (403, APPROVAL_DENIED)
    assert replay.json()["data"] == {"id": payment_id, "status": "denied", "released_cents": 25}
    assert await status_of(db, payment_id) == ("denied", approver.key_id)
    assert tally.makes == []
    await assert_ledger_balanced(db)


async def test_a_key_never_decides_its_own_payment(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    scopes = ["payments:send", "approvals"]
    agent, _ = await agent_and_approver(make_merchant, db, {**HOLDING, "scopes": scopes})
    payment_id = await held(client, agent, "s-1")
    own = await _decide(client, agent, payment_id, "approve")
    assert (own.status_code, own.json()["code"]) == (403, 2309)
    assert await status_of(db, payment_id) == ("pending_approval", None)
    elsewhere = await make_merchant()  # another merchant's key finds nothing
    assert (await _decide(client, elsewhere, payment_id, "deny")).json()["code"] == 4640


async def test_a_payee_the_key_never_paid_is_held_until_it_has_been(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    agent, approver = await agent_and_approver(make_merchant, db, NEW_PAYEES)
    first = await held(client, agent, "n-1")
    assert (await _decide(client, approver, first, "approve")).status_code == 200
    # Paid once: where that money went is known from now on, whatever url names it.
    known = await pay(client, agent, "n-2", url="https://another.example/r")
    assert known.status_code == 201, known.text
    # A new destination under the origin approved before is a new payee: held.
    await held(client, agent, "n-3", said=challenge(payee="acct_other"))
    assert await merchant_balance(db, agent) == 1_000 - 3 * 25


async def test_an_approval_after_the_challenge_expired_releases_it(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    agent, approver = await agent_and_approver(make_merchant, db)
    payment_id = await held(client, agent, "e-1")
    async with db.transaction() as conn:  # the seller's challenge ended while it waited
        past = utcnow() - timedelta(seconds=1)
        await conn.execute(update(_P).where(_P.c.id == payment_id).values(expires_at=past))
    late = await _decide(client, approver, payment_id, "approve")
    assert (late.status_code, late.json()["code"]) == (402, CHALLENGE_EXPIRED), late.text
    assert "approved" in late.json()["message"] and late.json()["status"] == "released"
    assert tally.makes == []
    assert await status_of(db, payment_id) == ("released", approver.key_id)
    assert await merchant_balance(db, agent) == 1_000
    [_, (kind, payload)] = await events_of(db, agent.merchant_id)
    assert kind == "payment.released" and "challenge expired" in payload
    validate_body(kind, payload)
    replay = await pay(client, agent, "e-1")
    assert replay.json()["code"] == CHALLENGE_EXPIRED
    await assert_ledger_balanced(db)


async def test_the_approval_mail_says_when_the_sellers_offer_lapses_and_what_approving_after_does(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    """The hold lasts a day, the seller's challenge minutes: the mail (and Telegram's line) says
    when the payment itself lapses, and that an approval after it pays nothing."""
    agent, _ = await agent_and_approver(make_merchant, db)
    payment_id = await held(client, agent, "m-1")
    async with db.read() as conn:  # this seller's challenge outlasts the hold: nothing to say
        told = await describe(conn, PAYMENTS, payment_id, utcnow())
    assert told is not None and "lapses" not in told.text
    shown = {"link": "https://x.test/a", "sender": "S", "last_this_hour": False}
    assert "lapses" not in render("approval_request", {**told.mail, **shown}).text
    lapses = utcnow() + timedelta(minutes=5)
    async with db.transaction() as conn:  # a seller's usual five minutes
        await conn.execute(update(_P).where(_P.c.id == payment_id).values(expires_at=lapses))
    async with db.read() as conn:
        told = await describe(conn, PAYMENTS, payment_id, utcnow())
    assert told is not None and told.expires - lapses > timedelta(hours=1)
    said = expires_text(lapses)
    mail = render("approval_request", {**told.mail, **shown})
    for body in (mail.text, mail.html):
        assert f"offer lapses at {said}" in body and "nothing is paid" in body, body
    assert f"lapses {said}: approved after that, nothing is paid" in told.text


async def test_a_freeze_keeps_held_payments_unapproved_and_its_cancel_releases_them_once(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    agent, approver = await agent_and_approver(make_merchant, db)
    first, second = await held(client, agent, "f-1"), await held(client, agent, "f-2")
    kept = await client.post("/freeze", json={}, headers=approver.headers)
    assert kept.status_code == 200 and kept.json()["data"]["held_cancelled"] == 0
    refused = await _decide(client, approver, first, "approve")
    assert (refused.status_code, refused.json()["code"]) == (423, 2360)
    assert await status_of(db, first) == ("pending_approval", None)
    assert tally.makes == []

    cancel = {"held": "cancel"}
    cancelled = await client.post("/freeze", json=cancel, headers=approver.headers)
    assert cancelled.json()["data"]["held_cancelled"] == 2
    again = await client.post("/freeze", json=cancel, headers=approver.headers)
    assert again.json()["data"]["held_cancelled"] == 0
    for payment_id in (first, second):
        assert await status_of(db, payment_id) == ("denied", "freeze")
    assert await merchant_balance(db, agent) == 1_000
    kinds = await ledger_kinds(db, agent.merchant_id)
    assert sorted(kinds) == [("payment_debit", -25)] * 2 + [("payment_release", 25)] * 2
    events = await _events(db, agent.merchant_id)
    assert events.count("payment.denied") == 2
    await assert_ledger_balanced(db)


async def test_the_worker_expires_a_held_payment_once_when_its_window_closes(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
    tally: TallyPayer,
) -> None:
    clock = Stepped()
    agent, approver = await agent_and_approver(make_merchant, db, {**HOLDING, "limits": DAILY})
    payment_id = await held(client, agent, "x-1")
    closes = (await work_of(db, payment_id)).next_attempt_at
    sealer = Sealer(TEST_SECRET.encode())

    async def leased() -> Any:
        found = await db.run(lambda tx: lease(tx, states.QUEUE, clock.now(), 30.0, 1000))
        return [row for row in found if row.payment_id == payment_id]

    assert await leased() == []  # not due before its window closes
    clock.advance((closes - clock.now()).total_seconds() + 0.001)
    [item] = await leased()

    async def attempt() -> list[str]:
        return await holds.attempt(db, sealer, settings, item, lambda: None, now=clock.now)

    # Two tries of the one lease race: one records and moves, the other changes nothing.
    await asyncio.gather(attempt(), attempt())
    assert await status_of(db, payment_id) == ("expired", "expiry")
    assert (await work_of(db, payment_id)).status == "done"
    assert await merchant_balance(db, agent) == 1_000
    assert await ledger_kinds(db, agent.merchant_id) == [
        ("payment_debit", -25),
        ("payment_release", 25),
    ]
    assert [spent for spent, _ in (await spend_rows(db, agent.key_id)).values()] == [0]
    assert await _events(db, agent.merchant_id) == ["payment.pending_approval", "payment.expired"]
    replay = await pay(client, agent, "x-1")
    assert (replay.status_code, replay.json()["code"]) == (409, APPROVAL_EXPIRED)
    late = await _decide(client, approver, payment_id, "approve")
    assert (late.status_code, late.json()["code"]) == (409, NOT_AWAITING)
    assert tally.makes == []
    await assert_ledger_balanced(db)


async def test_a_decision_after_the_window_closed_moves_nothing_the_expiry_does(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    settings: Settings,
    tally: TallyPayer,
) -> None:
    agent, approver = await agent_and_approver(make_merchant, db)
    payment_id = await held(client, agent, "w-1")
    async with db.transaction() as conn:  # its window closed; the worker has not run yet
        past = utcnow() - timedelta(seconds=1)
        await conn.execute(update(_P).where(_P.c.id == payment_id).values(approval_expires_at=past))
        await conn.execute(
            update(_W).where(_W.c.payment_id == payment_id).values(next_attempt_at=past)
        )
    for verb in ("approve", "deny"):
        late = await _decide(client, approver, payment_id, verb)
        assert (late.status_code, late.json()["code"]) == (409, NOT_AWAITING)
    assert await status_of(db, payment_id) == ("pending_approval", None)
    assert await merchant_balance(db, agent) == 975
    found = await db.run(lambda tx: lease(tx, states.QUEUE, utcnow(), 30.0, 1000))
    [item] = [row for row in found if row.payment_id == payment_id]
    sealer = Sealer(TEST_SECRET.encode())
    await holds.attempt(db, sealer, settings, item, lambda: None, now=utcnow)
    assert await status_of(db, payment_id) == ("expired", "expiry")
    assert await merchant_balance(db, agent) == 1_000
    assert tally.makes == []


async def test_held_cents_counts_only_what_the_wallet_paid(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    agent, approver = await agent_and_approver(make_merchant, db)
    await held(client, agent, "from-wallet")
    assert await _held_cents(client, approver) == (975, 25)
    # The merchant's own instrument pays the next: the wallet is neither debited nor holding.
    chosen = await client.put(
        "/payments/funding",
        json={"protocol": "tally", "funded_by": "own"},
        headers=approver.headers,
    )
    assert chosen.json()["data"]["funded_by"] == "own", chosen.text
    own = await held(client, agent, "from-own")
    assert await _held_cents(client, approver) == (975, 25)
    # Denied, it says what came back: nothing to the wallet, its amount to the key's limits.
    denied = await _decide(client, approver, own, "deny")
    assert denied.json()["code"] == DENIED, denied.text
    assert "nothing was debited from the wallet" in denied.json()["message"]
    replayed = await pay(client, agent, "from-own")
    assert replayed.json()["code"] == APPROVAL_DENIED, replayed.text
    assert "nothing was debited from the wallet" in replayed.json()["message"]
    assert await _held_cents(client, approver) == (975, 25)
    assert sorted(row.funded_by for row in await payment_rows(db, agent.merchant_id)) == [
        "own",
        "wallet",
    ]
