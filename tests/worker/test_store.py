"""The worker's store on its own: which records need a transaction, how a lease finds its rows."""

from dataclasses import replace
from typing import Any

import pytest

from gateway.clock import utcnow
from gateway.store.db import Database
from gateway.store.raw import Statement
from worker.store import _LEASE, _LEASE_WITH_TARGETS_PG, Claim, Record, _in

_NOW = utcnow()
_CLAIM = Claim(
    delivery_id="dlv_1",
    event_id="evt_1",
    endpoint_id="we_1",
    env="staging",
    attempts=0,
    trigger="auto",
    run_start=0,
    generation=1,
    payload="{}",
    type="webhook.test",
    url="https://hooks.example/a",
    secret_sealed="sealed",
    previous_secret_sealed=None,
    previous_secret_expires_at=None,
    failing_since=None,
)


def _record(status: str, *, failing: bool, disable: bool = False) -> Record:
    claim = replace(_CLAIM, failing_since=_NOW if failing else None)
    return Record(
        claim=claim,
        status=status,
        next_at=None,
        started=_NOW,
        finished=_NOW,
        duration_ms=1,
        request_headers={},
        response_status=200 if status == "succeeded" else 500,
        response_headers={},
        response_body="",
        error=None if status == "succeeded" else "HTTP 500",
        disable_reason="gone" if disable else None,
    )


@pytest.mark.parametrize(
    ("status", "failing", "disable", "changes"),
    [
        ("succeeded", False, False, False),  # the common case: rows only
        ("succeeded", True, False, True),  # the failure clock stops
        ("pending", False, False, True),  # the failure clock starts
        ("pending", True, False, False),  # still failing: the clock runs on
        ("failed", True, True, True),  # the endpoint is disabled
    ],
)
def test_which_records_change_their_endpoint(
    status: str, failing: bool, disable: bool, changes: bool
) -> None:
    assert _record(status, failing=failing, disable=disable).changes_endpoint is changes


async def test_a_lease_looks_each_delivery_up_by_its_key(db: Database) -> None:
    """Not through the index of due deliveries: without statistics (a burst on a fresh table)
    the planners took it, and read the whole backlog to lease every batch."""
    now = utcnow()
    params: dict[str, Any] = {"lease_until": now, "now": now, "due": now}
    async with db.connect() as conn:
        if db.is_sqlite:
            statement, bound = _in(conn, _LEASE, ["dlv_a", "dlv_b"], params)
            explain = Statement(f"EXPLAIN QUERY PLAN {statement.sql}", ("id", "up", "no", "step"))
        else:
            statement, bound = _LEASE_WITH_TARGETS_PG, {**params, "ids": ["dlv_a", "dlv_b"]}
            explain = Statement(f"EXPLAIN {statement.sql}", ("step",))
        plan = " ".join(str(v) for row in await conn.fetch(explain, bound) for v in row.values())
    assert "ix_webhook_deliveries_due" not in plan, plan
    if db.is_sqlite:  # PostgreSQL may scan a table this small; at 10,000 rows it takes the key
        assert "sqlite_autoindex_webhook_deliveries_1" in plan, plan
