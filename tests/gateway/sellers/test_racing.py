"""Payments to sellers racing for one $10.00 budget never pass it by a cent, on each store:
50 of 25 cents, through REST and MCP at once (real concurrent requests to a real server), and
on PostgreSQL across two gateway processes; exactly 40 are authorized, each debited once and
its credential made once, and every other is the budget's refusal, nothing written for it. In
the same race, a merchant whose environment is frozen authorizes nothing, and a key whose
``allowed_payees`` names none of the sellers is refused before anything is made: no payment
row, no call of the provider.

And the whole combination on one merchant, on one server on each store and across two gateway
processes on PostgreSQL: 24 racers deciding a held payment and a held send, and retrying both
under their Idempotency-Keys as an agent whose answers were lost does, while a freeze lands and
the deciding key is narrowed: each ends in one outcome, its credential made at most once, no
new payment or send made by a retry, and the balance and the ledger agree on every cent."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from gateway.budgets import service as budgets
from gateway.budgets.schemas import BudgetCreate
from gateway.store.engine import Database
from gateway.store.models import Topup, table_of
from gateway.values.settings import Settings
from tests.fixtures.core import local_client
from tests.fixtures.held_payments import status_of
from tests.fixtures.mcp import envelope_of, mcp_http
from tests.fixtures.merchants import (
    MakeMerchant,
    MerchantKey,
    assert_ledger_balanced,
    merchant_balance,
)
from tests.fixtures.paying_gateway import makes
from tests.fixtures.policies import set_policy, spend_rows, two_gateways
from tests.fixtures.seller_payments import events_of, payment_rows, written
from tests.fixtures.tally_payer import TallyPayer, challenge

PAYMENTS, AMOUNT, BUDGET, BALANCE = 50, 25, 1_000, 100_000
# Racers of each merchant refused beside the budget's race.
BESIDE = 10
AUTHORIZED, PAYEE_NOT_ALLOWED, BUDGET_REACHED, FROZEN = 1170, 2314, 2350, 2360
PAYING = ["payments:send"]
API = "/api/public/v1"


@dataclass(frozen=True, slots=True)
class Racing:
    """The merchants of one race: one drawing on a budget of ``BUDGET``, one whose environment
    is frozen (by another key of its own, ``freezer``), one whose key allows a payee none of
    the sellers is."""

    budgeted: MerchantKey
    budget_id: str
    frozen: MerchantKey
    freezer: MerchantKey
    fenced: MerchantKey


async def _racing(db: Database, make_merchant: MakeMerchant) -> Racing:
    budgeted = await make_merchant(balance_cents=BALANCE)
    windows = {"limits": [{"amount_cents": BUDGET, "interval": "daily"}]}
    async with db.transaction() as conn:
        made = await budgets.create(
            conn,
            budgets.Owner(budgeted.merchant_id, budgeted.env),
            BudgetCreate.model_validate({"name": "sellers", "windows": windows}),
        )
    await set_policy(db, budgeted.key_id, {"scopes": PAYING, "budgets": [made.id]})
    frozen = await make_merchant(balance_cents=BALANCE)
    await set_policy(db, frozen.key_id, {"scopes": PAYING})
    freezer = await make_merchant(merchant_id=frozen.merchant_id)
    fenced = await make_merchant(balance_cents=BALANCE)
    await set_policy(
        db, fenced.key_id, {"scopes": PAYING, "allowed_payees": ["https://seller.example"]}
    )
    return Racing(budgeted, made.id, frozen, freezer, fenced)


def _body(n: int) -> dict[str, Any]:
    return {"url": f"https://seller-{n % 7}.example/r/{n}", "challenge": challenge(AMOUNT)}


async def _tool_call(http: httpx.AsyncClient, merchant: MerchantKey, args: dict[str, Any]) -> int:
    """``pay_challenge`` as one JSON-RPC POST to ``/mcp`` (its HTTP door is stateless), for a
    key the door refuses before the tool runs (a frozen environment's: the SDK's client could
    not open its session): the code of the envelope in the request's JSON-RPC error, or the
    tool's."""
    call = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "pay_challenge", "arguments": args},
    }
    headers = {**merchant.headers, "Accept": "application/json, text/event-stream"}
    answer = (await http.post("/mcp", json=call, headers=headers)).json()
    found = answer["error"]["data"] if "error" in answer else answer["result"]["structuredContent"]
    return int(found["code"])


async def _race(
    roots: list[str], merchant: MerchantKey, count: int, *, sdk: bool = True
) -> list[int]:
    """``count`` payments spread over ``roots`` (each a gateway's root), every other one
    through MCP's ``pay_challenge`` (the SDK's client, or with ``sdk`` false one JSON-RPC
    POST), all in flight together; each reply's code."""
    limits = httpx.Limits(max_connections=100)
    async with AsyncExitStack() as stack:
        doors = [
            await stack.enter_async_context(local_client(base_url=root, timeout=60, limits=limits))
            for root in roots
        ]
        sessions = (
            [await stack.enter_async_context(mcp_http(root, merchant.key)) for root in roots]
            if sdk
            else []
        )

        async def one(n: int) -> int:
            door = n % len(roots)
            if n % 2:
                args = {**_body(n), "idempotency_key": f"race-{n}"}
                if not sdk:
                    return await _tool_call(doors[door], merchant, args)
                found = await envelope_of(sessions[door], "pay_challenge", args)
                return found.code
            headers = {**merchant.headers, "Idempotency-Key": f"race-{n}"}
            reply = await doors[door].post(f"{API}/payments", json=_body(n), headers=headers)
            return int(reply.json()["code"])

        return await asyncio.gather(*(one(n) for n in range(count)))


async def _race_all(roots: list[str], racing: Racing) -> tuple[list[int], list[int], list[int]]:
    """The three merchants' races at once, the frozen one's environment frozen first (through
    the last gateway: every process refuses it from the next request); (budgeted, frozen,
    fenced) codes."""
    async with local_client(base_url=f"{roots[-1]}{API}", timeout=30) as http:
        frozen = await http.post("/freeze", json={}, headers=racing.freezer.headers)
    assert frozen.status_code == 200, frozen.text
    budgeted, refused, fenced = await asyncio.gather(
        _race(roots, racing.budgeted, PAYMENTS),
        _race(roots, racing.frozen, BESIDE, sdk=False),
        _race(roots, racing.fenced, BESIDE),
    )
    return budgeted, refused, fenced


async def _held(
    db: Database, racing: Racing, codes: tuple[list[int], list[int], list[int]], fenced: Any
) -> list[str]:
    """Every merchant's payments as the race must leave them (``fenced``: what the fenced
    merchant had written before it); the authorized payments' ids."""
    budgeted, frozen, refused = codes
    counted = Counter(budgeted)
    assert set(counted) <= {AUTHORIZED, BUDGET_REACHED}, counted
    assert counted[AUTHORIZED] == BUDGET // AMOUNT, counted
    rows = await payment_rows(db, racing.budgeted.merchant_id)
    assert len(rows) == BUDGET // AMOUNT
    assert {row.status for row in rows} == {"authorized"}
    assert await merchant_balance(db, racing.budgeted) == BALANCE - BUDGET
    assert [spent for spent, _ in (await spend_rows(db, racing.budget_id)).values()] == [BUDGET]

    # Frozen: nothing authorized, nothing debited, nothing counted.
    assert frozen == [FROZEN] * BESIDE
    assert await payment_rows(db, racing.frozen.merchant_id) == []
    assert await merchant_balance(db, racing.frozen) == BALANCE
    assert await events_of(db, racing.frozen.merchant_id) == []
    assert await spend_rows(db, racing.frozen.key_id) == {}
    # Fenced: refused by its policy, nothing written at all.
    assert refused == [PAYEE_NOT_ALLOWED] * BESIDE
    assert await written(db, racing.fenced) == fenced
    await assert_ledger_balanced(db)
    return [row.id for row in rows]


@pytest.mark.xdist_group("concurrency")
async def test_payments_racing_through_rest_and_mcp_never_pass_the_budget(
    live_url: str, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    racing = await _racing(db, make_merchant)
    fenced = await written(db, racing.fenced)
    codes = await _race_all([live_url.removesuffix(API)], racing)
    authorized = await _held(db, racing, codes, fenced)
    # A credential for each authorized, once; none for a refused payment.
    assert sorted(tally.makes) == sorted(authorized)


@pytest.fixture(scope="module")
async def paying_gateways(
    db: Database, settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Path, list[str]]]:
    """Two gateway processes paying through Tally (``tests.fixtures.paying_gateway``), started
    once for the races across processes of this module: each race is merchants of its own, and
    reads the provider's calls made since it began. Their folder and API roots."""
    folder = tmp_path_factory.mktemp("paying")
    paying = "tests.fixtures.paying_gateway"
    async with two_gateways(db, settings, folder, module=paying) as apis:
        yield folder, apis


@pytest.mark.xdist_group("concurrency")
async def test_payments_racing_across_two_gateway_processes_never_pass_the_budget(
    make_merchant: MakeMerchant, db: Database, paying_gateways: tuple[Path, list[str]]
) -> None:
    racing = await _racing(db, make_merchant)
    fenced = await written(db, racing.fenced)
    folder, apis = paying_gateways
    before = len(makes(folder))
    roots = [root.removesuffix(API) for root in apis]
    codes = await _race_all(roots, racing)
    authorized = await _held(db, racing, codes, fenced)
    # Each process's provider calls: one for each authorized payment, none for another.
    assert sorted(makes(folder)[before:]) == sorted(authorized)


# The whole combination on one merchant: a held payment and a held send, each decided by many
# racers at once while the environment is frozen, the deciding key is narrowed, and the agent,
# whose answers were lost, sends the same payment and the same send again.
RACERS, SEND, START = 24, 900, 50_000
HELD_PAY = {"scopes": PAYING, "approval_above_cents": 10}
HELD_SEND = {"scopes": ["topup:send", "topup:read"], "approval_above_cents": 500}
SEND_BODY = {"platform": "claude", "amount_cents": SEND, "recipient_email": "held@example.com"}
# Every answer a racer may get: decided (200), not awaiting a decision any more (409), frozen
# (423), the narrowed key's scope gone (403); an agent's retry answers its first reply (202, or
# 201 / 200 once decided, 403 once denied, naming it) or the freeze (423).
DECISION_STATUSES = {200, 403, 409, 423}
RETRY_STATUSES = {200, 201, 202, 403, 423}


@dataclass(frozen=True, slots=True)
class Held:
    """One merchant's held payment and held send, its keys: the agents that made them, the key
    deciding them (narrowed mid-race) and the one that freezes and narrows."""

    payer: MerchantKey
    sender: MerchantKey
    approver: MerchantKey
    manager: MerchantKey
    payment_id: str
    topup_id: str


async def _holding(db: Database, make_merchant: MakeMerchant, api: str) -> Held:
    payer = await make_merchant(balance_cents=START)
    await set_policy(db, payer.key_id, HELD_PAY)
    sender = await make_merchant(merchant_id=payer.merchant_id)
    await set_policy(db, sender.key_id, HELD_SEND)
    approver = await make_merchant(merchant_id=payer.merchant_id)
    manager = await make_merchant(merchant_id=payer.merchant_id)
    async with local_client(base_url=api, timeout=60) as http:
        paid = await http.post("/payments", json=_held_body(), headers=_retry(payer, "pay-1"))
        assert paid.status_code == 202, paid.text
        sent = await http.post("/topup/send", json=SEND_BODY, headers=_retry(sender, "send-1"))
        assert sent.status_code == 202, sent.text
    payment_id, topup_id = paid.json()["data"]["id"], sent.json()["transaction_id"]
    return Held(payer, sender, approver, manager, payment_id, topup_id)


_CHALLENGE = challenge()


def _held_body() -> dict[str, str]:
    return {"url": "https://seller.example/paid", "challenge": _CHALLENGE}


def _retry(key: MerchantKey, idempotency: str) -> dict[str, str]:
    return {**key.headers, "Idempotency-Key": idempotency}


async def _combination(roots: list[str], held: Held) -> dict[str, list[httpx.Response]]:
    """``RACERS`` requests spread over ``roots``: decisions of the payment and the send, and
    the agents' retries, while the freeze and the narrowing land; each kind's answers."""
    answers: dict[str, list[httpx.Response]] = {"pay": [], "send": [], "retry": []}
    limits = httpx.Limits(max_connections=RACERS)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(local_client(base_url=root, timeout=60, limits=limits))
            for root in roots
        ]
        started = asyncio.Event()

        async def one(n: int) -> None:
            http = clients[n % len(clients)]
            verb = "approve" if n % 2 else "deny"
            kind = ("pay", "send", "retry", "retry")[n % 4]
            if kind == "pay":
                path = f"/payments/{held.payment_id}/{verb}"
                reply = await http.post(path, headers=held.approver.headers)
            elif kind == "send":
                path = f"/topup/{held.topup_id}/{verb}"
                reply = await http.post(path, headers=held.approver.headers)
            elif n % 8 < 4:
                headers = _retry(held.payer, "pay-1")
                reply = await http.post("/payments", json=_held_body(), headers=headers)
            else:
                headers = _retry(held.sender, "send-1")
                reply = await http.post("/topup/send", json=SEND_BODY, headers=headers)
            answers[kind].append(reply)
            if sum(map(len, answers.values())) >= RACERS // 6:
                started.set()

        racers = [asyncio.ensure_future(one(n)) for n in range(RACERS)]
        await started.wait()
        # The switch and the narrowing, each on a client of its own, while racers are in flight.
        async with (
            local_client(base_url=roots[-1], timeout=60) as switch,
            local_client(base_url=roots[0], timeout=60) as narrowing,
        ):
            frozen, narrowed = await asyncio.gather(
                switch.post("/freeze", json={}, headers=held.manager.headers),
                narrowing.patch(
                    f"/keys/{held.approver.key_id}",
                    json={"policy": {"scopes": ["topup:read"]}},
                    headers=held.manager.headers,
                ),
            )
        await asyncio.gather(*racers)
    assert frozen.status_code == 200, frozen.text
    # The two race each other too: a narrowing that lands after the freeze is refused with the
    # environment's other keys (423, 2360), as it must be.
    narrowing_answer = (narrowed.status_code, narrowed.json()["code"])
    assert narrowed.status_code == 200 or narrowing_answer == (423, 2360), narrowed.text
    return answers


async def _one_outcome(
    db: Database, held: Held, answers: dict[str, list[httpx.Response]], made: list[str]
) -> None:
    """Exactly one outcome each, no money moved twice, the ledger balanced."""
    for kind, statuses in (("pay", DECISION_STATUSES), ("send", DECISION_STATUSES)):
        seen = {r.status_code for r in answers[kind]}
        assert seen <= statuses, [r.text for r in answers[kind] if r.status_code not in statuses]
        assert sum(r.status_code == 200 for r in answers[kind]) <= 1, kind
    assert {r.status_code for r in answers["retry"]} <= RETRY_STATUSES, [
        r.text for r in answers["retry"]
    ]
    for reply in answers["retry"]:  # a retry names the first payment or send, never a new one
        if reply.status_code != 423:
            data = reply.json()
            if "payment" in reply.url.path:
                assert (data["data"] or {}).get("id") == held.payment_id, data
            else:
                assert data["transaction_id"] == held.topup_id, data
    [payment] = await payment_rows(db, held.payer.merchant_id)
    assert payment.id == held.payment_id
    paid, _ = await status_of(db, held.payment_id)
    sent = await _topup_status(db, held.topup_id)
    assert paid in ("pending_approval", "authorized", "denied"), paid
    assert sent in ("pending_approval", "delivered", "denied"), sent
    approved_pay = [r for r in answers["pay"] if r.status_code == 200 and "approve" in r.url.path]
    assert (paid == "authorized") == bool(approved_pay)
    # One credential for an authorized payment, none for another.
    assert made == ([held.payment_id] if paid == "authorized" else [])
    # The money: the payment's 25 and the send's 900 held or spent once, or given back once.
    kept = (0 if paid == "denied" else AMOUNT) + (0 if sent == "denied" else SEND)
    assert await merchant_balance(db, held.payer) == START - kept
    await assert_ledger_balanced(db)


async def _topup_status(db: Database, topup_id: str) -> str:
    topups = table_of(Topup)
    async with db.read() as conn:
        found = await conn.execute(select(topups.c.status).where(topups.c.id == topup_id))
        return str(found.scalar_one())


@pytest.mark.xdist_group("concurrency")
async def test_the_whole_combination_racing_on_one_server_ends_in_one_outcome(
    live_url: str, make_merchant: MakeMerchant, db: Database, tally: TallyPayer
) -> None:
    held = await _holding(db, make_merchant, live_url)
    answers = await _combination([live_url], held)
    await _one_outcome(db, held, answers, tally.makes)


@pytest.mark.xdist_group("concurrency")
async def test_the_whole_combination_racing_across_two_gateway_processes_ends_in_one_outcome(
    make_merchant: MakeMerchant, db: Database, paying_gateways: tuple[Path, list[str]]
) -> None:
    folder, apis = paying_gateways
    before = len(makes(folder))
    held = await _holding(db, make_merchant, apis[0])
    answers = await _combination(apis, held)
    await _one_outcome(db, held, answers, makes(folder)[before:])
