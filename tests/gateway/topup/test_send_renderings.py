"""The send's two renderings write the same rows.

Every case runs through each rendering the store has: on PostgreSQL the single statement and
the statements in order, whose rows must be equal to the last value (ids, times and sealed
vouchers aside); on SQLite the statements in order. On both, the rows must be the ones the case
expects, so a write dropped from either rendering fails here.
"""

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import String, insert, select, update

from gateway.callers import Caller, authenticate
from gateway.store.compose import Plan, PlanError
from gateway.store.engine import Database
from gateway.store.models import (
    Event,
    LedgerEntry,
    Topup,
    Wallet,
    WebhookDelivery,
    WebhookEndpoint,
    table_of,
)
from gateway.topup import service
from gateway.topup.schemas import SendRequest
from gateway.values.clock import new_id, utcnow
from keys import Sealer
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced
from tests.fixtures.policies import rendering

_W, _T, _L = table_of(Wallet), table_of(Topup), table_of(LedgerEntry)
_E, _EP, _D = table_of(Event), table_of(WebhookEndpoint), table_of(WebhookDelivery)


@dataclass(frozen=True)
class Hook:
    types: str = ""  # the column's form: "" for every event, ",a,b," for some
    enabled: bool = True


@dataclass(frozen=True)
class Case:
    name: str
    balance: int = 10_000
    amount: int = 500
    mailbox: str = "ann"  # ``ann+fail`` and ``ann+pending`` are staging's magic recipients
    threshold: int = 0
    hooks: tuple[Hook, ...] = (Hook(),)
    expected: dict[str, Any] = field(default_factory=dict)


CASES = [
    Case("delivered"),
    Case("insufficient", balance=100),
    Case("sandbox fail", mailbox="ann+fail"),
    Case("pending", mailbox="ann+pending"),
    Case("crossing balance.low", threshold=9_800),
    Case("crossing while pending", mailbox="ann+pending", threshold=9_800),
    Case("staying low", balance=9_000, threshold=9_800),
    Case("no endpoint", hooks=()),
    Case("several endpoints", hooks=(Hook(), Hook(), Hook(",topup.delivered,"))),
    Case("an unsubscribed endpoint", hooks=(Hook(",topup.failed,"), Hook())),
    Case("a disabled endpoint", hooks=(Hook(enabled=False), Hook())),
]


def _expected(case: Case) -> dict[str, Any]:
    """The rows the case must write, stated from the product's rules."""
    outcome = {"ann+fail": "failed", "ann+pending": "pending"}.get(case.mailbox, "delivered")
    if case.amount > case.balance:
        return {"balance": case.balance, "topups": [], "entries": [], "events": [], "hooks": []}
    taken = 0 if outcome == "failed" else case.amount
    after = case.balance - taken
    entries = [("topup_debit", -case.amount)]
    if outcome == "delivered":
        entries.append(("topup_credit", case.amount))
    if outcome == "failed":
        entries.append(("topup_refund", case.amount))
    events = [] if outcome == "pending" else [f"topup.{outcome}"]
    if after < case.threshold <= after + taken:
        events.append("balance.low")
    hooks = sorted(
        (type_, i)
        for type_ in events
        for i, hook in enumerate(case.hooks)
        if hook.enabled and (hook.types == "" or f",{type_}," in hook.types)
    )
    return {
        "balance": after,
        "topups": [(outcome, case.amount if outcome == "delivered" else None)],
        "entries": entries,
        "events": events,
        "hooks": hooks,
    }


_ID = re.compile(r"\b(?:(?:txn|evt|dlv|wal|we|mer|m|key|ak)_[0-9A-Za-z_]+|ann-[0-9a-f]{8})")


class _Canon:
    """Ids to tokens in order of first appearance, times to a mark: what is left must match."""

    def __init__(self) -> None:
        self.tokens: dict[str, str] = {}

    def __call__(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return "<time>"
        if isinstance(value, dict):
            return {k: "<time>" if k == "created" else self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        if isinstance(value, str):
            if value.startswith("{"):
                return self(json.loads(value))
            return _ID.sub(lambda m: self.tokens.setdefault(m[0], f"<id{len(self.tokens)}>"), value)
        return value


async def _snapshot(db: Database, merchant_id: str, recipient: str) -> dict[str, Any]:
    """Every row the send may write for this merchant and recipient, in creation order."""
    async with db.read() as conn:

        async def rows(stmt: Any) -> list[dict[str, Any]]:
            return [dict(r._mapping) for r in await conn.execute(stmt)]

        wallets = await rows(
            select(_W)
            .where((_W.c.merchant_id == merchant_id) | (_W.c.email == recipient))
            .order_by(_W.c.env, _W.c.owner)
        )
        wallet_ids = [w["id"] for w in wallets]
        topups = await rows(select(_T).where(_T.c.merchant_id == merchant_id).order_by(_T.c.id))
        for topup in topups:
            topup["voucher_sealed"] = topup["voucher_sealed"] is not None
            topup["voucher_hash"] = topup["voucher_hash"] is not None
        entries = await rows(
            select(_L)
            .where(_L.c.wallet_id.in_(wallet_ids), _L.c.kind.like("topup_%"))
            .order_by(_L.c.id)
        )
        for entry in entries:
            del entry["id"]  # a sequence, shared by every test
        events = await rows(select(_E).where(_E.c.merchant_id == merchant_id).order_by(_E.c.id))
        deliveries = await rows(
            select(_D).where(_D.c.merchant_id == merchant_id).order_by(_D.c.event_type, _D.c.id)
        )
    return {
        "wallets": wallets,
        "topups": topups,
        "entries": entries,
        "events": events,
        "deliveries": deliveries,
    }


def _summary(snap: dict[str, Any], merchant_id: str, endpoints: list[str]) -> dict[str, Any]:
    merchant_wallet = next(
        w for w in snap["wallets"] if w["owner"] == f"m:{merchant_id}" and w["env"] == "staging"
    )
    return {
        "balance": merchant_wallet["balance_cents"],
        "topups": [(t["status"], t["recipient_balance_cents"]) for t in snap["topups"]],
        "entries": [(e["kind"], e["amount_cents"]) for e in snap["entries"]],
        "events": [e["type"] for e in snap["events"]],
        "hooks": sorted(
            (d["event_type"], endpoints.index(d["endpoint_id"])) for d in snap["deliveries"]
        ),
    }


async def _send_once(
    db: Database,
    make_merchant: MakeMerchant,
    case: Case,
    *,
    idempotency_key: str | None,
) -> tuple[dict[str, Any], str, list[str]]:
    merchant = await make_merchant(
        balance_cents=case.balance, low_balance_threshold_cents=case.threshold
    )
    now = utcnow()
    endpoints = [new_id("we") for _ in case.hooks]
    async with db.transaction() as conn:
        for endpoint_id, hook in zip(endpoints, case.hooks, strict=True):
            await conn.execute(
                insert(_EP).values(
                    id=endpoint_id,
                    env="staging",
                    merchant_id=merchant.merchant_id,
                    url="https://example.com/hook",
                    event_types=hook.types,
                    enabled=hook.enabled,
                    secret_sealed="sealed",
                    created_at=now,
                    updated_at=now,
                )
            )
    caller: Caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    local, _, _ = case.mailbox.partition("+")
    tag = case.mailbox[len(local) :]
    recipient = f"{local}-{uuid.uuid4().hex[:8]}{tag}@example.com"
    body = SendRequest.model_validate(
        {"platform": "claude", "amount_cents": case.amount, "recipient_email": recipient},
        context={"max_topup_cents": 100_000},
    )
    outcome = await service.send(
        db,
        Sealer(TEST_SECRET.encode()),
        caller,
        body,
        idempotency_key=idempotency_key,
        idempotency_ttl_seconds=3600,
    )
    snap = await _snapshot(db, merchant.merchant_id, recipient)
    # The reply agrees with the rows: its deliveries are the ones written.
    assert sorted(outcome.deliveries) == sorted(d["id"] for d in snap["deliveries"])
    return snap, merchant.merchant_id, endpoints


@pytest.mark.parametrize("keyed", [False, True], ids=["no key", "idempotency key"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_both_renderings_write_the_same_rows(
    db: Database,
    make_merchant: MakeMerchant,
    monkeypatch: pytest.MonkeyPatch,
    case: Case,
    keyed: bool,
) -> None:
    renderings = [False] if db.is_sqlite else [True, False]
    canonical = []
    for one_statement in renderings:
        with rendering(monkeypatch, one_statement):
            key = f"k-{uuid.uuid4().hex}" if keyed else None
            snap, merchant_id, endpoints = await _send_once(
                db, make_merchant, case, idempotency_key=key
            )
        assert _summary(snap, merchant_id, endpoints) == _expected(case), one_statement
        await assert_ledger_balanced(db)  # the wallets' counts of entries moved with them
        canonical.append(_Canon()(snap))
    for other in canonical[1:]:
        assert other == canonical[0], "the renderings wrote different rows"


async def test_a_refused_send_writes_nothing_in_eitherrendering(
    db: Database, make_merchant: MakeMerchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The debit comes first and every other write depends on it."""
    for one_statement in [False] if db.is_sqlite else [True, False]:
        with rendering(monkeypatch, one_statement):
            snap, _, _ = await _send_once(
                db, make_merchant, Case("short", balance=10), idempotency_key=None
            )
        assert snap["topups"] == snap["events"] == snap["deliveries"] == snap["entries"] == []


def test_a_plan_refuses_a_step_that_does_not_wait_for_the_debit() -> None:
    """A write that does not depend on the required step would run even when it found no
    row, on PostgreSQL only: the plan is refused when it is built."""
    from gateway.ledger import service as ledger
    from gateway.store.compose import Step

    with pytest.raises(PlanError, match="does not depend"):
        Plan(
            [
                Step("debit", ledger.conditional_debit, required=True),
                Step("alone", lambda _: update(_W).values(balance_cents=0)),
            ]
        )


def test_a_plan_refuses_a_lock_step_after_another_step() -> None:
    """A lock runs before the plan's statement in either rendering: it comes first and no step
    refers to it, or the plan is refused when it is built."""
    from gateway.ledger import service as ledger
    from gateway.store.compose import Step

    lock = Step("lock", lambda _: update(_W).values(balance_cents=0), lock=True)
    with pytest.raises(PlanError, match="a lock step comes first"):
        Plan([Step("debit", ledger.conditional_debit, required=True), lock])
    built = Plan([lock, Step("debit", ledger.conditional_debit, required=True)])
    assert len(built.locks) == 1 and "lock AS" not in built.one_statement.asyncpg[0]


def test_a_counted_step_returns_nothing_in_order_and_nothing_uses_its_values() -> None:
    """A counted step (whether it wrote is all that is used of it) is written without
    RETURNING in order and given one in the one statement, where a later step's reference to it
    must read rows; a step that binds one of its values, or a counted step of many rows, is
    refused when the plan is built."""
    from gateway.ledger import service as ledger
    from gateway.store.compose import Step

    debit = Step("debit", ledger.conditional_debit, required=True)

    def zeroed(refs: Any) -> Any:
        return update(_W).where(refs.after("debit")).values(balance_cents=0)

    counted = Step("zeroed", zeroed, counted=True)
    gated = Step("gated", lambda r: zeroed(r).where(r.after("zeroed")))
    built = Plan([debit, counted, gated])
    [_, zeroing, _] = built.in_order
    assert "RETURNING" not in zeroing.sqlite[0] and zeroing.columns == ()
    assert "zeroed AS (UPDATE" in built.one_statement.asyncpg[0]
    assert "EXISTS (SELECT 1 FROM zeroed)" in built.one_statement.asyncpg[0]
    assert "zeroed__" not in built.one_statement.asyncpg[0]  # nothing of it is returned

    def uses(refs: Any) -> Any:
        return update(_W).values(balance_cents=refs.col("zeroed", "balance_cents"))

    with pytest.raises(PlanError, match="uses values of zeroed"):
        Plan([debit, Step("zeroed", zeroed, counted=True), Step("uses", uses)])
    with pytest.raises(PlanError, match="a counted step is one plain write"):
        Plan([debit, Step("zeroed", zeroed, counted=True, many=True)])


def test_an_echoing_step_returns_its_bound_values_without_returning_in_order() -> None:
    """A step whose row is values its caller bound (the voucher mail's id and status) is written
    without RETURNING in order, where its row is made of those values once it wrote, and returns
    the columns in the one statement; a later step may use them. One that echoes a value it
    does not bind, or a step of many rows that echoes, is refused when the plan is built."""
    from gateway.ledger import service as ledger
    from gateway.store.compose import Step
    from gateway.store.expressions import param

    debit = Step("debit", ledger.conditional_debit, required=True)

    def named(refs: Any) -> Any:
        return update(_W).where(refs.after("debit")).values(email=param("named", String))

    echoes = (("email", "named"),)
    echoing = Step("named", named, echoes=echoes)
    uses = Step("uses", lambda r: update(_W).values(platform=r.col("named", "email")))
    built = Plan([debit, echoing, uses])
    [_, naming, using] = built.in_order
    assert "RETURNING" not in naming.sqlite[0] and naming.columns == ()
    assert "named__email" in built.one_statement.asyncpg[0]
    assert "named__email" in using.sqlite[0]  # the value bound from the row made in order
    with pytest.raises(PlanError, match="echoes a value it does not bind"):
        Plan([debit, Step("named", named, echoes=(("email", "other"),))])
    with pytest.raises(PlanError, match="a step that echoes is one plain write"):
        Plan([debit, Step("named", named, echoes=echoes, many=True)])


def test_a_required_step_waits_on_the_required_steps_before_it() -> None:
    """Required steps come first, each depending on those before it: the one statement runs
    every CTE, so a debit that did not wait on the claim before it would be taken when the claim
    found its key taken. A required counted step (the claim) returns whether it wrote, in the
    one statement too, and only a required step may have a refusal of its own."""
    from gateway import idempotency
    from gateway.ledger import service as ledger
    from gateway.store.compose import Step

    claim = Step(
        "claim", idempotency.claim_step, required=True, counted=True, refused=idempotency.Claimed
    )
    with pytest.raises(PlanError, match="debit does not depend on"):
        Plan([claim, Step("debit", ledger.conditional_debit, required=True)])
    gated = Step(
        "debit",
        lambda r: update(_W).where(r.after("claim")).values(balance_cents=0).returning(_W.c.id),
        required=True,
    )
    built = Plan([claim, gated])
    [claiming, _] = built.in_order
    assert "RETURNING" not in claiming.sqlite[0] and "DO NOTHING" in claiming.sqlite[0]
    assert "claim__wrote" in built.one_statement.asyncpg[0]
    assert "EXISTS (SELECT 1 FROM claim)" in built.one_statement.asyncpg[0]
    with pytest.raises(PlanError, match="only a required step"):
        Plan(
            [
                Step("debit", ledger.conditional_debit, required=True),
                Step(
                    "zeroed",
                    lambda r: update(_W).where(r.after("debit")).values(balance_cents=0),
                    refused=idempotency.Claimed,
                ),
            ]
        )
