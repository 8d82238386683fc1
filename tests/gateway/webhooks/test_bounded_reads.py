"""The bounds of reads made for whoever asks: an origin's reads at once and a minute, every
origin's together, one read of a key at once, and what a read says to keep kept so long."""

import asyncio

import pytest

from gateway.webhooks.bounded_reads import BoundedReads, Read


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _reads(
    clock: _Clock, *, at_once: int = 3, each: int = 2, a_minute: int = 5
) -> BoundedReads[str, int]:
    return BoundedReads(at_once=at_once, each=each, each_a_minute=a_minute, clock=clock)


def test_an_origin_is_read_so_many_at_once_and_every_origin_so_many_together() -> None:
    reads = _reads(_Clock())
    # One origin whatever the path and the host's case; another port is another origin.
    assert reads.start("https://a.example/one") == "https://a.example"
    assert reads.start("https://A.example/two") == "https://a.example"
    assert reads.start("https://a.example/three") is None
    assert reads.start("https://a.example:8443/x") == "https://a.example:8443"
    assert reads.in_flight == 3
    assert reads.start("https://b.example/x") is None  # every origin together
    reads.end("https://a.example")
    assert reads.in_flight == 2
    assert reads.start("https://b.example/x") == "https://b.example"


def test_an_origin_is_read_so_many_a_minute_and_a_refusal_does_not_count() -> None:
    clock = _Clock()
    reads = _reads(clock, each=1, a_minute=2)
    for _ in range(2):
        origin = reads.start("https://a.example/x")
        assert origin is not None
        reads.end(origin)
    assert reads.start("https://a.example/x") is None
    clock.now += 59.9
    assert reads.start("https://a.example/x") is None
    clock.now += 0.1  # a new minute from the first read
    assert reads.start("https://a.example/x") == "https://a.example"
    assert reads.start("https://a.example/x") is None  # one at once: refused, not counted
    reads.end("https://a.example")
    assert reads.start("https://a.example/x") == "https://a.example"
    reads.end("https://a.example")
    assert reads.start("https://a.example/x") is None
    assert reads.in_flight == 0


async def test_callers_at_once_make_one_read_and_its_answer_is_kept_as_it_says() -> None:
    clock = _Clock()
    reads = _reads(clock)
    made: list[int] = []
    release = asyncio.Event()

    async def read(answer: int | None, seconds: float) -> Read[int]:
        made.append(1)
        await release.wait()
        return answer, seconds

    async def opens() -> None:  # a task after the callers', so each has asked before it runs
        release.set()

    callers = [reads.once("k", lambda: read(7, 10)) for _ in range(5)]
    assert await asyncio.gather(*callers, opens()) == [7] * 5 + [None]
    assert len(made) == 1
    clock.now += 9.9
    assert await reads.once("k", lambda: read(8, 10)) == 7  # kept
    clock.now += 0.1
    assert await reads.once("k", lambda: read(None, 0)) is None  # read again, kept no more
    assert await reads.once("k", lambda: read(9, 10)) == 9
    assert len(made) == 3
    reads.forget()
    assert await reads.once("k", lambda: read(None, 5)) is None  # a failure kept too
    assert await reads.once("k", lambda: read(10, 5)) is None
    assert len(made) == 4


async def test_a_caller_that_goes_away_leaves_the_others_no_answer_and_nothing_kept() -> None:
    reads = _reads(_Clock())
    started = asyncio.Event()

    async def hangs() -> Read[int]:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("never answers")

    first = asyncio.ensure_future(reads.once("k", hangs))
    await started.wait()
    second = asyncio.ensure_future(reads.once("k", hangs))

    async def leaves() -> None:  # a task after the second caller, so it waits on the first
        first.cancel()

    await asyncio.ensure_future(leaves())
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second is None

    async def answers() -> Read[int]:
        return 3, 0

    assert await reads.once("k", answers) == 3
