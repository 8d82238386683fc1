"""Every rule of a key's policy, through every rendering of the send each store has.

One table: a policy, the sends made before, and the send judged. Each case runs on SQLite (the
statements in order) and on PostgreSQL (the one statement, and the statements in order), with
and without an Idempotency-Key, at a fixed clock. A refusal must change nothing at all (wallets,
ledger, top-ups, events, spend rows) and be answered the same again under its key (replayed
when the store refused it, judged again when the policy did); an accepted send must count in
exactly the windows the case names.
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from gateway.callers import authenticate
from gateway.store.engine import Database
from gateway.topup import approvals, service
from gateway.topup.schemas import SendRequest
from gateway.values.outcome import ApiError
from keys import Sealer
from tests.fixtures.core import TEST_PEPPER, TEST_SECRET
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import money, rendering, renderings, set_policy, spend_rows

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)  # a Wednesday
DAY, WEEK, MONTH = "2026-11-25", "2026-11-23", "2026-11-01"


def _limit(amount: int, interval: str) -> dict[str, Any]:
    return {"amount_cents": amount, "interval": interval}


@dataclass(frozen=True)
class Send:
    amount: int = 500
    mailbox: str = "ann"  # the recipient's local part; every case has its own domain
    platform: str = "claude"


@dataclass(frozen=True)
class Case:
    name: str
    policy: dict[str, Any] | None
    send: Send = Send()
    before: tuple[Send, ...] = ()
    balance: int = 10_000
    code: int = 1001
    data: dict[str, Any] = field(default_factory=dict)  # expected in the reply's data
    counted: dict[str, int] = field(default_factory=dict)  # bucket prefix → spent after


ALL = ["topup:send", "topup:read"]
CASES = [
    Case("a key made before policies has no limit", None),
    Case("no limit in the policy", {"scopes": ALL}),
    Case("scope missing", {"scopes": ["topup:read"]}, code=2301, data={"scope": "topup:send"}),
    Case("platform not allowed", {"allowed_platforms": ["gemini"]}, code=2307),
    Case("platform allowed", {"allowed_platforms": ["claude"]}),
    Case("recipient not allowed", {"allowed_recipients": ["bob@example.org"]}, code=2308),
    Case("recipient allowed by address", {"allowed_recipients": ["ann@{domain}"]}),
    Case("recipient allowed by domain", {"allowed_recipients": ["@{domain}"]}),
    Case(
        "per-send cap",
        {"max_per_send_cents": 400},
        code=2305,
        data={"limit_source": "max_per_send", "limit_cents": 400, "resets_at": None},
    ),
    Case("at the per-send cap", {"max_per_send_cents": 500}),
    Case(
        "daily limit reached",
        {"limits": [_limit(1000, "daily")]},
        before=(Send(600),),
        code=2304,
        data={
            "limit_source": "daily",
            "limit_cents": 1000,
            "remaining_cents": 400,
            "resets_at": "2026-11-26T00:00:00Z",
        },
    ),
    Case(
        "daily limit met exactly",
        {"limits": [_limit(1000, "daily")]},
        before=(Send(500),),
        counted={f"daily:{DAY}": 1000},
    ),
    Case(
        "weekly limit reached",
        {"limits": [_limit(1000, "weekly")]},
        before=(Send(600),),
        code=2304,
        data={
            "limit_source": "weekly",
            "remaining_cents": 400,
            "resets_at": "2026-11-30T00:00:00Z",
        },
    ),
    Case(
        "monthly limit reached",
        {"limits": [_limit(1000, "monthly")]},
        before=(Send(600),),
        code=2304,
        data={"limit_source": "monthly", "resets_at": "2026-12-01T00:00:00Z"},
    ),
    Case(
        "all-time limit reached",
        {"limits": [_limit(1000, "all_time")]},
        before=(Send(600),),
        code=2304,
        data={"limit_source": "all_time", "remaining_cents": 400, "resets_at": None},
    ),
    Case(
        "every limit applies: the weekly one refuses",
        {"limits": [_limit(5000, "daily"), _limit(1000, "weekly")]},
        before=(Send(600),),
        code=2304,
        data={"limit_source": "weekly"},
    ),
    Case(
        "every limit counts",
        {"limits": [_limit(5000, "daily"), _limit(6000, "weekly"), _limit(7000, "all_time")]},
        before=(Send(600),),
        counted={f"daily:{DAY}": 1100, f"weekly:{WEEK}": 1100, "all_time": 1100},
    ),
    Case(
        "per-recipient limit reached",
        {"per_recipient_limit": _limit(800, "daily")},
        before=(Send(400),),
        code=2306,
        data={"limit_source": "per_recipient", "remaining_cents": 400, "interval": "daily"},
    ),
    Case(
        "per-recipient limit: another recipient still fits",
        {"per_recipient_limit": _limit(800, "daily")},
        before=(Send(700, mailbox="bob"),),
        counted={f"recipient:daily:{DAY}:ann@": 500},
    ),
    Case(
        "wallet short beats the key's limits, and counts nothing",
        {"limits": [_limit(1000, "daily")]},
        balance=300,
        code=4001,
    ),
    Case(
        "a send that fails at once counts nothing",
        {"limits": [_limit(1000, "daily")]},
        send=Send(500, mailbox="ann+fail"),
        code=4004,
    ),
    Case(
        "above the approval line: held and counted",
        {"approval_above_cents": 400, "limits": [_limit(1000, "daily")]},
        code=1006,
        counted={f"daily:{DAY}": 500},
    ),
    Case("at the approval line: sent", {"approval_above_cents": 500}),
    Case("a recipient this key never paid: held", {"approval_for_new_recipients": True}, code=1006),
    Case(
        "a recipient this key paid before: sent",
        {"approval_for_new_recipients": True},
        before=(Send(100),),
        counted={"paid:ann@": 600},
    ),
]


def _fill(value: Any, domain: str) -> Any:
    if isinstance(value, str):
        return value.replace("{domain}", domain)
    if isinstance(value, list):
        return [_fill(v, domain) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, domain) for k, v in value.items()}
    return value


def _body(send: Send, domain: str) -> SendRequest:
    return SendRequest.model_validate(
        {
            "platform": send.platform,
            "amount_cents": send.amount,
            "recipient_email": f"{send.mailbox}@{domain}",
        },
        context={"max_topup_cents": 100_000},
    )


async def _judge(
    db: Database, make_merchant: MakeMerchant, case: Case, keyed: bool
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]:
    """The case's reply, the money before and after the judged send, and the domain used."""
    domain = f"{uuid.uuid4().hex[:10]}.example.com"
    merchant = await make_merchant(balance_cents=10_000)
    await set_policy(db, merchant.key_id, _fill(case.policy, domain))
    sealer = Sealer(TEST_SECRET.encode())
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    for earlier in case.before:
        done = await service.send(
            db, sealer, caller, _body(earlier, domain), idempotency_key=None,
            idempotency_ttl_seconds=3600, now=NOW,
        )  # fmt: skip
        if done.code == 1006:  # held (a new recipient): a person approves it
            approver = await make_merchant(merchant_id=merchant.merchant_id)
            await set_policy(db, approver.key_id, {"scopes": ["approvals"]})
            by = await authenticate(db, TEST_PEPPER.encode(), approver.key)
            assert done.transaction_id is not None
            done = await approvals.approve(db, sealer, by, done.transaction_id, now=NOW)
        assert done.code == 1001, done
    if case.balance != 10_000:
        from tests.fixtures.merchants import set_balance

        async with db.transaction() as conn:
            await set_balance(conn, db, "staging", merchant.merchant_id, case.balance)
    before = await money(db, merchant.merchant_id, merchant.key_id)
    key = f"k-{uuid.uuid4().hex}" if keyed else None
    body = _body(case.send, domain)
    try:
        outcome = await service.send(
            db, sealer, caller, body, idempotency_key=key, idempotency_ttl_seconds=3600, now=NOW
        )
        reply = {"code": outcome.code, "data": outcome.data, "status": outcome.status}
    except ApiError as refused:  # pragma: no cover - the send answers refusals as outcomes
        reply = {"code": refused.code, "data": refused.data, "status": None}
    after = await money(db, merchant.merchant_id, merchant.key_id)
    if key is not None:
        again = await service.send(
            db, sealer, caller, body, idempotency_key=key, idempotency_ttl_seconds=3600, now=NOW
        )
        assert (again.code, again.data) == (reply["code"], reply["data"]), "replayed otherwise"
        assert await money(db, merchant.merchant_id, merchant.key_id) == after
    return reply, before, after, domain


@pytest.mark.parametrize("keyed", [False, True], ids=["no key", "idempotency key"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_every_rule_on_every_rendering(
    db: Database,
    make_merchant: MakeMerchant,
    monkeypatch: pytest.MonkeyPatch,
    case: Case,
    keyed: bool,
) -> None:
    for one_statement in renderings(db):
        with rendering(monkeypatch, one_statement):
            reply, before, after, domain = await _judge(db, make_merchant, case, keyed)
        where = "one statement" if one_statement else "in order"
        assert int(reply["code"]) == case.code, (where, reply)
        for name, value in _fill(case.data, domain).items():
            assert reply["data"][name] == value, (where, name, reply["data"])
        if case.code == 4004:  # failed and refunded at once: written, but nothing counted
            assert after["spend"] == before["spend"], where
            continue
        if case.code >= 2000:
            assert after == before, f"a refusal changed something ({where})"
            continue
        spent = {
            bucket: spent - before["spend"].get(bucket, (0, 0))[0]
            for bucket, (spent, _) in after["spend"].items()
        }
        for prefix, total in case.counted.items():
            found = [b for b in after["spend"] if b.startswith(prefix)]
            assert len(found) == 1, (where, prefix, after["spend"])
            assert after["spend"][found[0]][0] == total, (where, prefix, after["spend"])
        moved = {b: n for b, n in spent.items() if n}
        if case.code == 1001:
            assert after["topups"] == before["topups"] + 1
            assert all(n == case.send.amount for n in moved.values()), moved


async def test_the_windows_are_named_by_the_calendar(
    db: Database, make_merchant: MakeMerchant
) -> None:
    """Days from 00:00 UTC, weeks from Monday, months from the 1st: one row each."""
    merchant = await make_merchant(balance_cents=10_000)
    limits = [_limit(10_000, i) for i in ("daily", "weekly", "monthly", "all_time")]
    await set_policy(db, merchant.key_id, {"limits": limits})
    caller = await authenticate(db, TEST_PEPPER.encode(), merchant.key)
    outcome = await service.send(
        db,
        Sealer(TEST_SECRET.encode()),
        caller,
        _body(Send(700), "example.com"),
        idempotency_key=None,
        idempotency_ttl_seconds=3600,
        now=NOW,
    )
    assert outcome.code == 1001
    assert await spend_rows(db, merchant.key_id) == {
        f"daily:{DAY}": (700, 10_000),
        f"weekly:{WEEK}": (700, 10_000),
        f"monthly:{MONTH}": (700, 10_000),
        "all_time": (700, 10_000),
    }
