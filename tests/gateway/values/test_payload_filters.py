"""The payload filter's rule and its renderings agree: the same filters over the same events
give the same answers from ``matches``, from PostgreSQL's ``jsonb_path_match`` of the saved path
and from SQLite's function, as the fan-out calls them."""

import json
from typing import Any

import pytest
from sqlalchemy import text

from gateway.store.engine import Database
from gateway.values.payload_filters import SQLITE_FUNCTION, check_filter, matches

EVENTS: list[dict[str, Any]] = [
    {
        "type": "topup.delivered",
        "data": {
            "amount_cents": 1000,
            "platform": "claude",
            "tags": ["a", "b"],
            "items": [{"i": 1, "t": "q"}, {"i": 2, "t": "r"}],
            "n": None,
            "flag": True,
            "s": "héllo",
        },
    },
    {
        "type": "topup.failed",
        "data": {
            "amount_cents": 50,
            "platform": "openai",
            "tags": "a",
            "items": {"i": 2, "t": "q"},
            "flag": False,
            "s": "abc",
        },
    },
    {"type": "balance.low", "data": {"amount_cents": "1000", "tags": [["a"]], "items": [1, 2]}},
]

# (filter, which of EVENTS it passes)
CASES: list[tuple[dict[str, Any], list[int]]] = [
    ({"type": "topup.delivered"}, [0]),
    ({"data": {"amount_cents": {"$gte": 100}}}, [0]),  # "1000", a string, is no number
    ({"data": {"amount_cents": {"$gt": 10, "$lt": 500}}}, [1]),
    ({"data": {"amount_cents": {"$not": {"$gt": 100}}}}, [1, 2]),
    ({"data": {"platform": {"$in": ["claude", "gemini"]}}}, [0]),
    ({"data": {"platform": {"$nin": ["claude", "gemini"]}}}, [1]),  # absent: fails
    ({"data": {"platform": {"$neq": "claude"}}}, [1]),
    ({"data": {"tags": "a"}}, [0, 1]),  # an array: one element equal
    ({"data": {"tags": ["a", "b"]}}, [0]),  # an array holding each
    ({"data": {"items": {"i": 2, "t": "q"}}}, [1]),  # one element holding both
    ({"data": {"items": {"i": 1, "t": "q"}}}, [0]),
    ({"data": {"n": None}}, [0]),
    ({"data": {"n": {"$exist": True}}}, [0]),
    ({"data": {"n": {"$exist": False}}}, [1, 2]),
    ({"data": {"flag": True}}, [0]),
    ({"data": {"flag": 1}}, []),  # a boolean is no number
    ({"data": {"s": {"$startsWith": "h"}}}, [0]),
    ({"data": {"s": {"$gt": "b"}}}, [0]),
    ({"$or": [{"type": "balance.low"}, {"data": {"amount_cents": {"$lt": 100}}}]}, [1, 2]),
    ({"$and": [{"type": {"$startsWith": "topup."}}, {"$not": {"data": {"flag": False}}}]}, [0]),
    ({"$not": {"data": {"amount_cents": {"$gt": "5"}}}}, [0, 1, 2]),  # "1000" < "5"
    ({"data": {"amount_cents": {"$eq": 1000.0}}}, [0]),
    ({"data": {"missing": {"$not": {"$eq": 1}}}}, []),  # absent fails, negated or not
    ({"data": {"items": {"$not": {"i": 2}}}}, [2]),
    ({"data": {"amount_cents": {"$gt": -5.5}}}, [0, 1]),
    ({'da"ta': 1, "type": {"$exist": True}}, []),
]


@pytest.mark.parametrize(("filter_", "passing"), CASES)
def test_the_rule(filter_: dict[str, Any], passing: list[int]) -> None:
    assert [i for i, event in enumerate(EVENTS) if matches(filter_, event)] == passing


async def test_each_store_renders_the_rule_alike(db: Database) -> None:
    answers: list[bool] = []
    expected: list[bool] = []
    async with db.transaction() as conn:
        for filter_, passing in CASES:
            saved = check_filter(filter_)
            assert saved is not None
            for i, event in enumerate(EVENTS):
                body = json.dumps(event)
                if db.is_sqlite:
                    sql = f"SELECT {SQLITE_FUNCTION}(:filter, :body)"
                    params = {"filter": saved.text, "body": body}
                else:
                    sql = "SELECT jsonb_path_match(CAST(:body AS JSONB), CAST(:path AS JSONPATH))"
                    params = {"path": saved.path, "body": body}
                answers.append(bool((await conn.execute(text(sql), params)).scalar_one()))
                expected.append(i in passing)
    assert answers == expected
