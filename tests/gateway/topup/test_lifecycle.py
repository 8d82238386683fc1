"""The lifecycle's table, walked pair by pair on each store.

Every top-up starts as a real held send (debited, counted in a daily window and as a new
recipient's hold), then is put in the state under test. An allowed change must write what its
row in the table says (refund, delivery, event, who decided), in every rendering the store has,
the renderings' rows equal (ids and times aside). A change the table refuses, or one whose row is
no longer in its from-state (or its approval window), changes nothing.
"""

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select, update

from gateway.callers import authenticate
from gateway.ledger import grants
from gateway.store.compose import Plan, PlanError, Step
from gateway.store.db import open_database
from gateway.store.engine import Database
from gateway.store.expressions import param
from gateway.store.models import (
    Event,
    Fulfilment,
    KeySpend,
    LedgerEntry,
    Topup,
    Wallet,
    WebhookDelivery,
    WebhookEndpoint,
    table_of,
)
from gateway.store.raw import Raw, Statement
from gateway.topup import cancelling, lifecycle, service
from gateway.topup.schemas import SendRequest
from gateway.values import statuses
from gateway.values.clock import new_id, utcnow
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from keys import Sealer
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import rendering, renderings, set_policy
from tests.fixtures.query_plans import plans_of, without_statistics

_W, _T, _L, _S = table_of(Wallet), table_of(Topup), table_of(LedgerEntry), table_of(KeySpend)
_E, _EP, _D = table_of(Event), table_of(WebhookEndpoint), table_of(WebhookDelivery)

AMOUNT = 700
BALANCE = 10_000
POLICY = {
    "scopes": ["topup:send", "topup:read", "approvals"],
    "approval_above_cents": 100,
    "limits": [{"amount_cents": 50_000, "interval": "daily"}],
}
EXISTING = [s for s in lifecycle.STATES if s != lifecycle.NEW]
ALLOWED = [t for t in lifecycle.TRANSITIONS.values() if t.source != lifecycle.NEW]


@dataclass(frozen=True)
class _Top:
    merchant_id: str
    key_id: str
    key: str  # the sending key, in clear
    wallet_id: str  # the merchant's staging wallet
    row: Any  # the top-up as put in its state


async def _topup(db: Database, make_merchant: MakeMerchant, status: str) -> _Top:
    """A held send of ``AMOUNT``, then put in ``status``, with an endpoint for every event."""
    merchant = await make_merchant(balance_cents=BALANCE)
    await set_policy(db, merchant.key_id, POLICY)
    now = utcnow()
    async with db.transaction() as conn:
        await conn.execute(
            insert(_EP).values(
                id=new_id("we"),
                env="staging",
                merchant_id=merchant.merchant_id,
                url="https://example.com/hook",
                event_types="",
                enabled=True,
                secret_sealed="sealed",
                created_at=now,
                updated_at=now,
            )
        )
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    body = SendRequest.model_validate(
        {
            "platform": "claude",
            "amount_cents": AMOUNT,
            "recipient_email": f"ann-{uuid.uuid4().hex[:8]}@example.com",
            "metadata": {"order": "42"},
        },
        context={"max_topup_cents": 100_000},
    )
    sent = await service.send(
        db, Sealer(TEST_SECRET.encode()), caller, body, idempotency_key=None,
        idempotency_ttl_seconds=3600,
    )  # fmt: skip
    assert sent.status == statuses.HELD
    async with db.transaction() as conn:
        await conn.execute(update(_T).where(_T.c.id == sent.transaction_id).values(status=status))
        row = (await conn.execute(select(_T).where(_T.c.id == sent.transaction_id))).one()
    return _Top(merchant.merchant_id, merchant.key_id, merchant.key, caller.wallet_id, row)


async def _snapshot(db: Database, top: _Top) -> dict[str, Any]:
    """Every row a change may write for this merchant, its key and its recipient."""
    async with db.read() as conn:

        async def rows(stmt: Any) -> list[dict[str, Any]]:
            return [dict(r._mapping) for r in await conn.execute(stmt)]

        wallets = await rows(
            select(_W)
            .where((_W.c.merchant_id == top.merchant_id) | (_W.c.email == top.row.recipient_email))
            .order_by(_W.c.owner, _W.c.env)
        )
        entries = await rows(
            select(_L).where(_L.c.wallet_id.in_([w["id"] for w in wallets])).order_by(_L.c.id)
        )
        for entry in entries:
            del entry["id"]  # a sequence shared by every test
        work = await rows(select(Fulfilment).where(Fulfilment.merchant_id == top.merchant_id))
        for job in work:
            job["reference"] = job["reference"] == top.row.id.removeprefix("txn_")[:20]
        return {
            "wallets": wallets,
            "topups": await rows(select(_T).where(_T.c.merchant_id == top.merchant_id)),
            "entries": entries,
            "events": await rows(
                select(_E).where(_E.c.merchant_id == top.merchant_id).order_by(_E.c.id)
            ),
            "deliveries": await rows(
                select(_D).where(_D.c.merchant_id == top.merchant_id).order_by(_D.c.id)
            ),
            "spend": await rows(select(_S).where(_S.c.key_id == top.key_id).order_by(_S.c.bucket)),
            "work": work,
        }


_ID = re.compile(r"\b(?:(?:txn|evt|dlv|wal|we|mer|m|r|key|ak|fnd)[_:][0-9A-Za-z_:.@-]+)")
_KEY = re.compile(r"\b(?:ann-[0-9a-f]{8}|paid:[^\"]+)")


_TIMES = ("created", "created_at", "updated_at", "approval_expires_at")


class _Canon:
    """Ids to tokens in order of first appearance, times to a mark, sealed text to a flag."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}

    def _token(self, match: re.Match[str]) -> str:
        return self.tokens.setdefault(match[0], f"<id{len(self.tokens)}>")

    def __call__(self, value: Any, key: str = "") -> Any:
        if key == "voucher_sealed" or key == "secret_sealed":
            return value is not None
        if isinstance(value, datetime) or key in (
            "created",
            "created_at",
            "updated_at",
            "approval_expires_at",
        ):
            return "<time>"
        if isinstance(value, dict):
            return {k: self(v, k) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        if isinstance(value, str):
            if value.startswith("{"):
                return self(json.loads(value))
            return _KEY.sub(self._token, _ID.sub(self._token, value))
        return value


def _summary(snap: dict[str, Any], top: _Top) -> dict[str, Any]:
    merchant = next(w for w in snap["wallets"] if w["id"] == top.wallet_id)
    recipient = [w["balance_cents"] for w in snap["wallets"] if w["owner"].startswith("r:")]
    [topup] = snap["topups"]
    return {
        "balance": merchant["balance_cents"],
        "recipient": recipient,
        "status": topup["status"],
        "decided_by": topup["decided_by"],
        "failure_reason": topup["failure_reason"],
        "voucher": topup["voucher_sealed"] is not None,
        "entries": [(e["kind"], e["amount_cents"]) for e in snap["entries"]],
        "events": [e["type"] for e in snap["events"]],
        "deliveries": len(snap["deliveries"]),
        "spend": {s["bucket"].partition(":")[0]: s["spent_cents"] for s in snap["spend"]},
        "work": len(snap["work"]),
    }


def _expected(before: dict[str, Any], t: lifecycle.Transition, decider: str) -> dict[str, Any]:
    """What the table's row says the change does, from the summary before it."""
    after = {**before, "status": t.status, "entries": list(before["entries"])}
    after["work"] = before["work"] + (1 if t.fulfil else 0)
    after["events"] = [*before["events"], *([t.event] if t.event else [])]
    after["deliveries"] = len(after["events"])  # the one endpoint takes every event
    spend = dict(before["spend"])
    if t.refund:
        after["balance"] = before["balance"] + AMOUNT
        after["entries"].append(("topup_refund", AMOUNT))
        spend["daily"] = spend["daily"] - AMOUNT
    if t.deliver:
        after["recipient"] = [AMOUNT]
        after["voucher"] = True
        after["entries"].append(("topup_credit", AMOUNT))
        spend["paid"] = spend.get("paid", 0) + AMOUNT
    after["spend"] = spend
    if t.decided:
        after["decided_by"] = decider
    if t.target == statuses.FAILED:
        after["failure_reason"] = service.FAILED_REASON
    return after


def _when(t: lifecycle.Transition, row: Any) -> datetime:
    """A time inside the change's window: past the hold for the expiry, within it otherwise."""
    if t.window == "closed":
        expires: datetime = row.approval_expires_at
        return expires + timedelta(seconds=1)
    return utcnow()


async def _move(
    db: Database, top: _Top, t: lifecycle.Transition, now: datetime, source: str | None = None
) -> Any:
    how: dict[str, Any] = {}
    if t.decided:
        how["decided_by"] = "decider"
    if t.target == statuses.FAILED:
        how["failure_reason"] = service.FAILED_REASON
    if t.deliver:
        how["voucher_sealed"] = "sealed voucher"
    if t.fulfil:
        how["fulfil"] = ("newapi", now)
    async with db.transaction() as conn:
        asked = lifecycle.ChangeRequest(
            top.row, t.target, wallet_id=top.wallet_id, now=now, source=source, **how
        )
        return await lifecycle.move(conn, asked)


@pytest.mark.parametrize("t", ALLOWED, ids=[f"{t.source}->{t.target}" for t in ALLOWED])
async def test_an_allowed_change_writes_its_plan_in_every_rendering(
    db: Database, make_merchant: MakeMerchant, monkeypatch: pytest.MonkeyPatch,
    t: lifecycle.Transition,
) -> None:  # fmt: skip
    canonical = []
    for one_statement in renderings(db):
        top = await _topup(db, make_merchant, t.source)
        before = await _snapshot(db, top)
        with rendering(monkeypatch, one_statement):
            moved = await _move(db, top, t, _when(t, top.row))
        assert moved is not None, one_statement
        changed, deliveries = moved
        after = await _snapshot(db, top)
        expected = _expected(_summary(before, top), t, "decider")
        assert _summary(after, top) == expected, one_statement
        assert changed.status == t.status
        # The reply names the deliveries written for this change's event.
        new = {d["id"] for d in after["deliveries"]} - {d["id"] for d in before["deliveries"]}
        assert sorted(deliveries) == sorted(new)
        if t.event is not None:
            [event] = [e for e in after["events"] if e["type"] == t.event]
            data = json.loads(event["payload"])["data"]
            assert data["transaction_id"] == top.row.id
            assert data["status"] == t.target
            assert data["amount_cents"] == AMOUNT
            assert data["metadata"] == {"order": "42"}
        canonical.append(_Canon()(after))
    for other in canonical[1:]:
        assert other == canonical[0], "the renderings wrote different rows"


@pytest.mark.parametrize("state", EXISTING)
async def test_a_refused_change_changes_nothing(
    db: Database, make_merchant: MakeMerchant, monkeypatch: pytest.MonkeyPatch, state: str
) -> None:
    """From a row in ``state``: every change the table does not allow is refused, and every
    change it allows from another state (or outside its window) finds no row, in every
    rendering; nothing is written either way."""
    top = await _topup(db, make_merchant, state)
    # A refund's plan first draws the send's undrawn debit from the grants, which moves no
    # credit: drawn here, the refused change is seen writing nothing at all.
    async with db.transaction() as conn:
        await grants.settle(conn, top.wallet_id)
    before = await _snapshot(db, top)
    for target in lifecycle.STATES:
        if (state, target) in lifecycle.TRANSITIONS:
            continue
        with pytest.raises(lifecycle.NoSuchTransition):
            await _move(db, top, lifecycle.Transition(state, target, None, None), utcnow())
    for one_statement in renderings(db):
        with rendering(monkeypatch, one_statement):
            for t in ALLOWED:
                now = _when(t, top.row)
                if t.source == state:
                    if t.window is None:
                        continue
                    # The right state, the wrong side of the approval window.
                    past = top.row.approval_expires_at + timedelta(seconds=1)
                    now = past if t.window == "open" else utcnow()
                assert await _move(db, top, t, now, source=t.source) is None, t
    assert await _snapshot(db, top) == before


def test_every_pair_of_states_is_in_the_table_or_refused() -> None:
    """The table names only known states, and every change from an existing row has a plan
    that builds (its steps' parameters all supplied)."""
    for source in lifecycle.STATES:
        for target in lifecycle.STATES:
            if (source, target) not in lifecycle.TRANSITIONS:
                with pytest.raises(lifecycle.NoSuchTransition):
                    lifecycle.transition(source, target)
                continue
            assert lifecycle.transition(source, target).target == target
            if source != lifecycle.NEW:
                assert lifecycle.plan(source, target).binds


def test_a_plan_refuses_a_step_whose_parameter_no_one_supplies() -> None:
    """Coverage is checked when the plan is built, not when the driver runs it."""
    from sqlalchemy import String

    from gateway.store.models import Wallet

    wallets = table_of(Wallet)
    guard = Step("guard", lambda _: select(wallets.c.id).where(wallets.c.id == param("a", String)),
                 required=True)  # fmt: skip
    stray = Step(
        "stray",
        lambda refs: (
            update(wallets)
            .where(wallets.c.id == param("b", String), refs.after("guard"))
            .values(balance_cents=0)
        ),
    )
    Plan([guard, stray], given=["a", "b"])
    with pytest.raises(PlanError, match=r"step stray binds \['b'\]: not supplied"):
        Plan([guard, stray], given=["a"])


async def test_a_run_missing_a_parameter_is_refused_before_the_driver(db: Database) -> None:
    plan = lifecycle.plan(statuses.PENDING, statuses.CANCELLED)
    async with db.transaction() as conn:
        from gateway.store.raw import raw

        with pytest.raises(PlanError, match="parameters not supplied"):
            await plan.run(await raw(conn), {"txn_id": "txn_x"})


@pytest.mark.parametrize("t", ALLOWED, ids=[f"{t.source}->{t.target}" for t in ALLOWED])
async def test_of_concurrent_changes_of_one_row_one_writes(
    db: Database, make_merchant: MakeMerchant, monkeypatch: pytest.MonkeyPatch,
    t: lifecycle.Transition,
) -> None:  # fmt: skip
    """The guard locks the row: of changes racing from one state, each having read the row in
    it, exactly one writes, in every rendering."""
    for one_statement in renderings(db):
        top = await _topup(db, make_merchant, t.source)
        before = _summary(await _snapshot(db, top), top)
        now = _when(t, top.row)
        with rendering(monkeypatch, one_statement):
            moved = await asyncio.gather(*(_move(db, top, t, now) for _ in range(8)))
        assert sum(m is not None for m in moved) == 1, one_statement
        after = _summary(await _snapshot(db, top), top)
        assert after == _expected(before, t, "decider"), one_statement


async def test_concurrent_cancels_refund_once(db: Database, make_merchant: MakeMerchant) -> None:
    """Through the service: one cancel wins, the others are told the top-up is not pending."""
    top = await _topup(db, make_merchant, statuses.PENDING)
    caller = await authenticate(db, TEST_PEPPER.encode(), top.key)
    sealer = Sealer(TEST_SECRET.encode())

    async def cancel() -> int:
        try:
            return int((await cancelling.cancel(db, sealer, caller, top.row.id)).code)
        except ApiError as refused:
            return int(refused.code)

    codes = await asyncio.gather(*(cancel() for _ in range(10)))
    assert sorted(codes) == [1003] + [4005] * 9
    summary = _summary(await _snapshot(db, top), top)
    assert summary["balance"] == BALANCE
    assert summary["entries"].count(("topup_refund", AMOUNT)) == 1
    assert summary["events"].count("topup.cancelled") == 1


@pytest.mark.parametrize(
    ("source", "target"),
    [(statuses.PENDING, statuses.DELIVERED), (statuses.HELD, statuses.EXPIRED)],
)
async def test_a_postgres_change_locks_its_top_up_by_its_key(
    settings: Settings, db: Database, source: str, target: str
) -> None:
    """A change's guard, on a table without statistics where the merchant has 3,000 top-ups
    still holding money: the one top-up read and locked by its key, as planned and as kept. With
    every condition in one query, it read the merchant's every held top-up for the one it
    changed, so a burst of sends slowed each one's change."""
    if db.is_sqlite:
        pytest.skip("PostgreSQL's planner")
    guard = Statement.of(lifecycle._guard(lifecycle.transition(source, target)))
    filler = Statement(
        """INSERT INTO topups (id, env, merchant_id, api_key_id, platform, amount_cents,
            recipient_email, status, created_at, updated_at)
        SELECT 'txn_' || n, 'live', 'm_1', 'key_1', 'claude', 100, 'a@example.com', :status,
            :now, :now
        FROM generate_series(1, 3000) AS n"""
    )
    now = utcnow()

    async def explain(conn: Raw) -> tuple[dict[str, str], list[str]]:
        shapes = await without_statistics(conn, "topups")
        await conn.fetch(filler, {"status": source, "now": now})
        given = {"txn_id": "txn_7", "merchant_id": "m_1", "env": "live", "now": now}
        return shapes, await plans_of(conn, guard, given)

    # On sessions of the store's own (with none of the worker's planner settings), disposed
    # with the copy the test made.
    own = open_database(settings.database_url, pool_size=1)
    try:
        shapes, plans = await own.run(explain, each_statement=True)
    finally:
        await own.dispose()
    for plan in plans:
        [read] = [line for line in plan.splitlines() if " on topups " in f"{line} "]
        assert f"Index Scan using {shapes['(id)']} " in read, plan
