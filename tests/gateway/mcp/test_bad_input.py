"""Bad tool input, one field wrong at a time: the envelope's error as an error result, and
nothing written (the balance and every row count unchanged)."""

from typing import Any

import pytest

from gateway.store.engine import Database
from tests.fixtures.mcp import SEND, counts, envelope_of, mcp_http
from tests.fixtures.merchants import MakeMerchant, merchant_balance

GOOD_KEY = "bad-input-1"

# (what is wrong, the arguments, the code)
CASES: list[tuple[str, dict[str, Any], int]] = [
    ("unknown platform", {"platform": "llama"}, 3001),
    ("platform not a string", {"platform": 1}, 3001),
    ("amount as a string", {"amount_cents": "1000"}, 3001),
    ("amount as a float", {"amount_cents": 1000.0}, 3001),
    ("amount as a bool", {"amount_cents": True}, 3001),
    ("amount zero", {"amount_cents": 0}, 3001),
    ("amount negative", {"amount_cents": -5}, 3001),
    ("amount above the maximum", {"amount_cents": 100_001}, 3001),
    ("amount null", {"amount_cents": None}, 3001),
    ("e-mail not an address", {"recipient_email": "not-an-address"}, 3001),
    ("e-mail with a display name", {"recipient_email": "Ann <ann@example.com>"}, 3001),
    ("e-mail too long", {"recipient_email": "a" * 250 + "@example.com"}, 3001),
    ("metadata not an object", {"metadata": "x"}, 3001),
    ("metadata value not a string", {"metadata": {"k": 1}}, 3001),
    ("metadata key too long", {"metadata": {"k" * 41: "v"}}, 3001),
    ("metadata value too long", {"metadata": {"k": "v" * 501}}, 3001),
    ("metadata with 51 keys", {"metadata": {f"k{i}": "v" for i in range(51)}}, 3001),
    ("an unknown field", {"colour": "blue"}, 3001),
    ("idempotency key blank", {"idempotency_key": ""}, 4006),
    ("idempotency key spaces", {"idempotency_key": "   "}, 4006),
    ("idempotency key too long", {"idempotency_key": "k" * 256}, 4006),
    ("idempotency key not ASCII", {"idempotency_key": "clé"}, 4006),
    ("idempotency key a number", {"idempotency_key": 42}, 4006),
    ("idempotency key null", {"idempotency_key": None}, 4006),
]

MISSING: list[tuple[str, int]] = [
    ("platform", 3001),
    ("amount_cents", 3001),
    ("recipient_email", 3001),
    ("idempotency_key", 4006),
]


async def _refused(
    mcp_root: str, db: Database, make_merchant: MakeMerchant, arguments: dict[str, Any]
) -> dict[str, Any]:
    merchant = await make_merchant()
    balance = await merchant_balance(db, merchant)
    rows = await counts(db, merchant.merchant_id)
    async with mcp_http(mcp_root, merchant.key) as session:
        refused = await envelope_of(session, "send_topup", arguments)
    assert refused.is_error
    assert refused.envelope["success"] is False
    assert refused.envelope["transaction_id"] is None
    assert await merchant_balance(db, merchant) == balance
    assert await counts(db, merchant.merchant_id) == rows
    return refused.envelope


@pytest.mark.parametrize(("what", "change", "code"), CASES, ids=[c[0] for c in CASES])
async def test_a_wrong_field_is_refused_and_moves_nothing(
    mcp_root: str,
    db: Database,
    make_merchant: MakeMerchant,
    what: str,
    change: dict[str, Any],
    code: int,
) -> None:
    envelope = await _refused(
        mcp_root, db, make_merchant, {**SEND, "idempotency_key": GOOD_KEY, **change}
    )
    assert envelope["code"] == code, what
    if code == 3001:
        # Pydantic's errors without the input echoed back.
        assert envelope["data"]["errors"]
        assert all(set(e) == {"loc", "type", "msg"} for e in envelope["data"]["errors"])


@pytest.mark.parametrize(("field", "code"), MISSING, ids=[m[0] for m in MISSING])
async def test_a_missing_field_is_refused_and_moves_nothing(
    mcp_root: str, db: Database, make_merchant: MakeMerchant, field: str, code: int
) -> None:
    arguments = {**SEND, "idempotency_key": GOOD_KEY}
    del arguments[field]
    envelope = await _refused(mcp_root, db, make_merchant, arguments)
    assert envelope["code"] == code


async def test_other_tools_refuse_bad_input_with_the_envelope(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    async with mcp_http(mcp_root, merchant.key) as session:
        cases: list[tuple[str, dict[str, Any], int]] = [
            ("get_topup", {}, 3001),
            ("get_topup", {"transaction_id": 5}, 3001),
            ("get_topup", {"transaction_id": "txn_x", "more": 1}, 3001),
            ("cancel_topup", {"transaction_id": "../etc"}, 4002),
            ("list_topups", {"limit": 0}, 3001),
            ("list_topups", {"limit": 101}, 3001),
            ("list_topups", {"sort": "asc"}, 3001),
            ("get_balance", {"env": "live"}, 3001),
            ("no_such_tool", {}, 3007),
        ]
        for name, arguments, code in cases:
            refused = await envelope_of(session, name, arguments)
            assert refused.is_error, (name, arguments)
            assert refused.code == code, (name, arguments, refused.envelope)
