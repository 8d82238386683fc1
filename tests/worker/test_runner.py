"""The runner's contract, shown with a fourth kind of work added by a test alone: a row model, a
handler and a line in the kinds table. Its rows are leased (never past the lane's room, never by
two workers at once), retried on the kind's schedule, given up after the last try, and shared
between merchants; nothing else in the worker changes for it. On SQLite and PostgreSQL."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select

from gateway.store.engine import Database
from gateway.store.queue import Queue
from gateway.store.types import UTCDateTime
from gateway.values.clock import utcnow
from tests.fixtures.clock import Stepped
from tests.fixtures.core import wait_until
from tests.fixtures.workers import RunningWorker, StartWorker
from worker.deps import Deps
from worker.kind import Bounds, RowKind
from worker.kinds import KINDS
from worker.runner import HOLD

_META = MetaData()
CHORES = Table(
    "chores",
    _META,
    Column("id", String(40), primary_key=True),
    Column("merchant_id", String(40)),
    Column("status", String(20)),
    Column("attempts", Integer),
    Column("generation", Integer),
    Column("next_attempt_at", UTCDateTime(), index=True),
    Column("last_error", String(300)),
    Column("updated_at", UTCDateTime()),
)
SCHEDULE = [0.0, 0.3, 0.3]  # three tries: at once, then 0.3 s after each failure
ROOM, SHARE = 4, 2
LEASE_SECONDS = 10.0


@dataclass
class Chores:
    """The handler's side: when each row was tried (on the workers' ``clock``), which ones
    fail, which ones hang."""

    clock: Stepped = field(default_factory=Stepped)
    tries: dict[str, list[float]] = field(default_factory=dict)
    failing: dict[str, int] = field(default_factory=dict)  # row id: failures before success
    hang: set[str] = field(default_factory=set)  # merchants whose tries wait for ``release``
    release: asyncio.Event = field(default_factory=asyncio.Event)
    in_flight: dict[str, int] = field(default_factory=dict)
    most: int = 0
    most_of: dict[str, int] = field(default_factory=dict)

    async def handle(self, deps: Deps, row: Any) -> str | None:
        self.tries.setdefault(row.id, []).append(self.clock.monotonic())
        merchant = row.merchant_id
        self.in_flight[merchant] = self.in_flight.get(merchant, 0) + 1
        self.most = max(self.most, sum(self.in_flight.values()))
        self.most_of[merchant] = max(self.most_of.get(merchant, 0), self.in_flight[merchant])
        try:
            if merchant in self.hang:
                await self.release.wait()
            left = self.failing.get(row.id, 0)
            if left:
                self.failing[row.id] = left - 1
                return f"failure {len(self.tries[row.id])}"
            return None
        finally:
            self.in_flight[merchant] -= 1


@pytest.fixture
async def chores(db: Database) -> AsyncIterator[Chores]:
    async with db.transaction() as conn:
        await conn.run_sync(_META.create_all)
    yield Chores()
    async with db.transaction() as conn:
        await conn.run_sync(_META.drop_all)


def chore_kind(chores: Chores) -> RowKind:
    return RowKind(
        name="chore",
        queue=Queue(CHORES),
        handler=chores.handle,
        delays=lambda settings: SCHEDULE,
        bounds_of=lambda settings: Bounds(
            concurrency=ROOM, share=SHARE, lease_seconds=LEASE_SECONDS
        ),
    )


async def add(db: Database, merchant: str, *ids: str, at: datetime | None = None) -> None:
    now = utcnow()
    rows = [
        {
            "id": row_id,
            "merchant_id": merchant,
            "status": "pending",
            "attempts": 0,
            "generation": 0,
            "next_attempt_at": at or now,
            "updated_at": now,
        }
        for row_id in ids
    ]
    async with db.transaction() as conn:
        await conn.execute(insert(CHORES), rows)


async def rows_of(db: Database) -> dict[str, Any]:
    async with db.read() as conn:
        return {r.id: r for r in await conn.execute(select(CHORES))}


async def settled(db: Database, count: int, *, within: float = 20) -> dict[str, Any]:
    async def done() -> bool:
        rows = await rows_of(db)
        return len(rows) == count and all(r.status != "pending" for r in rows.values())

    await wait_until(done, within=within)
    return await rows_of(db)


def wake(*workers: RunningWorker) -> None:
    for running in workers:
        running.service.runner.wake_kind("chore")


async def test_a_fourth_kind_is_leased_retried_and_given_up_on_its_schedule(
    start_worker: StartWorker, chores: Chores, db: Database
) -> None:
    kinds = [*KINDS, chore_kind(chores)]
    seams = {"clock": chores.clock}
    # Two workers: each row is still tried once a try, by one of them.
    workers = await asyncio.gather(
        start_worker(kinds=kinds, seams=seams), start_worker(kinds=kinds, seams=seams)
    )
    chores.failing = {"twice": 2, "always": 99}
    ids = [f"ok{i}" for i in range(10)]
    await add(db, "m_a", *ids, "twice", "always")
    wake(*workers)
    for tried, delay in enumerate(SCHEDULE[1:], start=1):

        async def recorded(count: int = tried) -> bool:
            rows = await rows_of(db)
            return all(rows[row_id].attempts >= count for row_id in ("twice", "always"))

        await wait_until(recorded, interval=0.005)
        # All but the last 0.1 s, which pass in real time: a try made early shows in its gap.
        chores.clock.advance(delay - 0.1)
    rows = await settled(db, 12)

    for row_id in ids:  # leased and done, one try each
        assert (rows[row_id].status, rows[row_id].attempts) == ("done", 1)
        assert len(chores.tries[row_id]) == 1
    # Tried again on the schedule, then done.
    twice = rows["twice"]
    assert (twice.status, twice.attempts, twice.last_error) == ("done", 3, None)
    first, second, third = chores.tries["twice"]
    assert second - first >= SCHEDULE[1] and third - second >= SCHEDULE[2]
    # Given up after the schedule's last try, with its last error kept.
    always = rows["always"]
    assert (always.status, always.attempts) == ("failed", 3)
    assert always.last_error == "failure 3" and len(chores.tries["always"]) == 3
    # Never more in flight than one lane's room, summed over both workers' lanes.
    assert chores.most <= 2 * ROOM


async def test_a_fourth_kind_is_shared_between_merchants(
    start_worker: StartWorker, chores: Chores, db: Database
) -> None:
    """Merchant A's tries hang; B's, queued behind A's, are done meanwhile: A holds its share
    of the room, and no more; A's tries put off come back a hold later, once A has room."""
    running = await start_worker(kinds=[*KINDS, chore_kind(chores)], seams={"clock": chores.clock})
    chores.hang = {"m_a"}
    earlier = utcnow()
    await add(db, "m_a", *(f"a{i}" for i in range(8)), at=earlier)
    await add(db, "m_b", "b0", "b1", "b2")
    wake(running)

    async def a_hangs() -> bool:
        return chores.in_flight.get("m_a", 0) == SHARE

    async def b_done() -> bool:
        rows = await rows_of(db)
        return all(rows[f"b{i}"].status == "done" for i in range(3))

    # The clock moved through the hold A's other tries wait before they are put off.
    await wait_until(a_hangs)
    chores.clock.advance(HOLD)
    await wait_until(b_done, within=10)
    assert chores.most_of["m_a"] == SHARE
    rows = await rows_of(db)
    assert all(rows[f"a{i}"].status == "pending" for i in range(8))
    assert all(rows[f"a{i}"].attempts == 0 for i in range(8))  # put off is not a try
    chores.release.set()
    # Handed back due a hold later, not left to their leases: done once A's slots free and the
    # clock moved one more hold, still well inside the lease they were put off under (the
    # lanes' idle polls, a second apart in real time, would find them only once it lapsed).
    chores.clock.advance(HOLD)
    rows = await settled(db, 11, within=5)
    assert all(r.status == "done" for r in rows.values())
    assert all(rows[f"a{i}"].attempts == 1 for i in range(8))  # one try each, put-offs aside


@dataclass(frozen=True, slots=True)
class _Later(RowKind):
    """Chores whose rows named ``w…`` may not be tried before ``at``."""

    at: datetime | None = None

    def not_before(self, item: Any) -> datetime | None:
        return self.at if str(item.id).startswith("w") else None


async def test_a_try_that_may_not_begin_yet_waits_taking_no_room(
    start_worker: StartWorker, chores: Chores, db: Database
) -> None:
    """Tries a kind holds back (``Kind.not_before``, a throttled delivery led up to its slot)
    wait in the worker taking neither room in the lane nor their merchant's share: the same
    merchant's other rows, more than the room, are all done meanwhile; the held ones are tried
    once their time has come, and not before."""
    wait = LEASE_SECONDS / 2  # inside the lease the rows were taken under
    at = chores.clock.now() + timedelta(seconds=wait)
    plain = chore_kind(chores)
    later = _Later(**{f.name: getattr(plain, f.name) for f in fields(plain)}, at=at)
    running = await start_worker(kinds=[*KINDS, later], seams={"clock": chores.clock})
    waiting = [f"w{i}" for i in range(2 * ROOM)]
    others = [f"n{i}" for i in range(2 * ROOM)]
    await add(db, "m_a", *waiting, at=utcnow() - timedelta(seconds=1))  # leased first
    await add(db, "m_a", *others)
    wake(running)

    async def others_done() -> bool:
        rows = await rows_of(db)
        return all(rows[i].status == "done" for i in others)

    await wait_until(others_done, within=10)
    rows = await rows_of(db)
    assert all(rows[i].status == "pending" and rows[i].attempts == 0 for i in waiting)
    assert not any(i in chores.tries for i in waiting)
    started = chores.clock.monotonic()
    chores.clock.advance(wait)
    rows = await settled(db, 4 * ROOM)
    assert all(r.status == "done" and r.attempts == 1 for r in rows.values())
    assert all(len(chores.tries[i]) == 1 and chores.tries[i][0] >= started + wait for i in waiting)
