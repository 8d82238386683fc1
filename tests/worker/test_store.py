"""The worker's store on its own: which records need a transaction around them."""

from dataclasses import replace

import pytest

from gateway.clock import utcnow
from worker.store import Claim, Record

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
