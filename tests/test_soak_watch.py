"""The soak's watch, alone: the connection bound docs/operations.md gives, the event-to-receipt
figure that leaves out what a fault held up, and the p99s judged against their budgets."""

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from bench.servers import admin_dsn
from bench.soak_watch import (
    OWN_CONNECTIONS,
    ConnectionWatch,
    Latency,
    bound,
    proxy_times,
    receipt_times,
    until_received,
)
from tests.fixtures.core import wait_until


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
    # "a" went to two endpoints, each delivery's first receipt counted.
    first = [("a", t + 0.004), ("a", t + 0.008), ("b", t + 10 + 5.0), ("c", t + 20 + 0.006)]
    took = receipt_times(created, first, [(t + 9, t + 11)])
    # "b" committed inside a fault's window is left out; "c", stored without a zone, is UTC.
    assert [round(ms, 1) for ms in took] == [4.0, 8.0, 6.0], took
    line = Latency("event to receipt", took, 50).line()
    assert line.startswith(
        "event to receipt outside the warm-up and fault windows: n=3 p50 6.0 ms, p99 8.0 ms"
    ), line


def test_the_proxy_s_times_are_its_200s_to_the_path_begun_outside_the_windows() -> None:
    # PROXY_LOG_FORMAT: when the request ended, how long it took, its status and its path.
    lines = [
        "1000.010 0.004 200 /api/public/v1/topup/send",
        "1000.020 0.007 200 /api/public/v1/balance",  # another path
        "1000.030 0.009 503 /api/public/v1/topup/send",  # not answered: retried
        "1005.500 0.300 200 /api/public/v1/topup/send",  # begun at 1005.2, inside the window
        "1006.200 1.500 200 /api/public/v1/topup/send",  # begun at 1004.7, before it
        "a line of something else",
    ]
    took = proxy_times(lines, "/api/public/v1/topup/send", [(1005.0, 1006.0)])
    assert [round(ms, 1) for ms in took] == [4.0, 1500.0], took


def test_a_p99_past_its_budget_fails_and_nothing_read_is_not_a_pass() -> None:
    readings = [1.0] * 98 + [9.0, 30.0]
    assert Latency("send latency", readings, 30).within()
    past = Latency("send latency", readings, 29.9)
    assert not past.within()
    assert past.failure() == "send latency p99 30.0 ms, past its budget of 29.9 ms"
    assert "(budget p99 29.9 ms)" in past.line()
    assert not Latency("event to receipt", [], 50).within()


def test_a_fault_s_window_lasts_until_the_events_committed_in_it_are_received() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    t = at.timestamp()
    created = {"a": at, "b": at.replace(second=5), "c": at.replace(second=30)}
    # "b", committed inside the window (t+4 to t+6), is received at t+12: its window runs on to
    # there; "c" after it does not stretch it, and "a" before it neither.
    firsts = [("a", t + 0.01), ("b", t + 12.0), ("c", t + 30.01)]
    assert until_received(created, firsts, [(t + 4, t + 6)]) == [(t + 4, t + 12.0)]
    assert until_received(created, firsts, [(t + 20, t + 21)]) == [(t + 20, t + 21)]


async def test_the_watch_outlives_a_connection_the_driver_can_no_longer_use(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection the driver says it cannot use (``InternalClientError``, as a PostgreSQL stop
    left one mid-statement in a soak, whose report was then lost to the error) ends that
    connection, not the watch: it connects again and samples, and its stop raises nothing."""
    fetchval = asyncpg.Connection.fetchval
    broken: list[bool] = []

    async def once_broken(self: asyncpg.Connection, *args: Any, **kwargs: Any) -> Any:
        if not broken:
            broken.append(True)
            raise asyncpg.InternalClientError("cannot switch to state 12")
        return await fetchval(self, *args, **kwargs)

    monkeypatch.setattr(asyncpg.Connection, "fetchval", once_broken)
    watch = ConnectionWatch(admin_dsn(postgres_server))
    watch.start()

    async def sampled() -> bool:
        return watch.samples > 0

    try:
        await wait_until(sampled, within=30)
    finally:
        await watch.stop()
    assert broken == [True]
    assert watch.most >= 0
