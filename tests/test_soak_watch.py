"""The soak's watch, alone: the connection bound docs/operations.md gives, and the event-to-receipt
figure that leaves out what a fault held up."""

from datetime import UTC, datetime

from bench.soak_watch import OWN_CONNECTIONS, bound, receipt_line


def test_the_bound_is_the_documented_one_directly_and_through_the_pooler() -> None:
    # docs/operations.md: a gateway up to 3P, a worker up to 12; two gateways and two workers at
    # P = 10 need up to 84.
    direct = bound(gateways=2, workers=2, pool_size=10, pooler_pool=None, runners=0)
    assert direct == 84 + OWN_CONNECTIONS
    assert bound(gateways=2, workers=2, pool_size=10, pooler_pool=None, runners=2) == (
        direct + 2 * OWN_CONNECTIONS
    )
    # Through PgBouncer PostgreSQL sees the pooler's pool a role (two roles), whatever N and M.
    pooled = bound(gateways=8, workers=4, pool_size=10, pooler_pool=8, runners=2)
    assert pooled == 16 + OWN_CONNECTIONS


def test_receipts_are_counted_from_the_commit_outside_the_fault_windows() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    t = at.timestamp()
    created = {"a": at, "b": at.replace(second=10), "c": at.replace(second=20).replace(tzinfo=None)}
    first = {"a": t + 0.004, "b": t + 10 + 5.0, "c": t + 20 + 0.006}
    line = receipt_line(created, first, [(t + 9, t + 11)])
    # "b" committed inside a fault's window is left out; "c", stored without a zone, is UTC.
    assert line.startswith("event to receipt outside fault windows: n=2 p50 6.0 ms, p99 6.0 ms"), (
        line
    )
