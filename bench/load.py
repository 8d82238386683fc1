"""A small HTTP load generator (aiohttp): closed loop at N clients, or open loop at a fixed rate.

Open-loop latency is measured from each request's scheduled start, so a stall is not hidden by
the generator waiting for it (no coordinated omission). That also counts the generator's own
stalls, so its garbage collector is off while it measures, as ``timeit`` does: a collection in
the generator once showed as a 30-70 ms stall in the server's p99.
"""

import asyncio
import functools
import gc
import json
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, ParamSpec

import aiohttp

__all__ = [
    "Make",
    "Ok",
    "Result",
    "closed_loop",
    "closed_loop_of",
    "collector_off",
    "open_loop",
    "seen_in",
]

P = ParamSpec("P")


@dataclass(frozen=True, slots=True)
class Result:
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int
    # Percentiles a generator reports itself (``bench.wrk``), by fraction, in place of latencies.
    quantiles: dict[float, float] | None = None
    # What the failed requests answered, by ``seen_in``'s words: ``{"429 2208": 5}``.
    seen: dict[str, int] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds

    def percentile(self, q: float) -> float:
        if self.quantiles is not None:
            return self.quantiles.get(q, float("nan"))
        if len(self.latencies_ms) < 2:
            return float("nan")
        return statistics.quantiles(self.latencies_ms, n=1000)[int(q * 1000) - 1]


@contextmanager
def collector_off() -> Iterator[None]:
    """The measuring process's own garbage collector off, as ``timeit`` does."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _without_collector(
    measure: Callable[P, Coroutine[Any, Any, "Result"]],
) -> Callable[P, Coroutine[Any, Any, "Result"]]:
    @functools.wraps(measure)
    async def measured(*args: P.args, **kwargs: P.kwargs) -> Result:
        with collector_off():
            return await measure(*args, **kwargs)

    return measured


# Each request of a closed loop, by its number: its body and headers.
Make = Callable[[int], tuple[bytes, dict[str, str]]]
# Whether a reply (its status and body) is a success.
Ok = Callable[[int, bytes], bool]


def seen_in(status: int, body: bytes) -> str:
    """A failed reply in a word or two: its status and, for the gateway's envelope, its code
    (``"429 2208"``); the status alone for any other body."""
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        code = None
    return f"{status} {code}" if code is not None else str(status)


# Whatever keeps a request from its answer: a refused or dropped connection, a timeout.
_UNANSWERED = (aiohttp.ClientError, asyncio.TimeoutError)


async def _post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], ok: Ok
) -> str | None:
    """None when ``ok`` takes the reply; else what was seen (``seen_in``, or the error's name
    when no answer came): a failure is a figure, never an exception that ends the run."""
    try:
        async with session.post(url, data=body, headers=headers) as reply:
            answer = await reply.read()
    except _UNANSWERED as exc:
        return f"no answer ({type(exc).__name__})"
    return None if ok(reply.status, answer) else seen_in(reply.status, answer)


def _below_300(status: int, _: bytes) -> bool:
    return status < 300


@_without_collector
async def closed_loop(
    url: str,
    bodies: Sequence[bytes],
    headers: dict[str, str],
    *,
    clients: int,
    seconds: float,
    warmup: float = 1.0,
    keyed: bool = False,
) -> Result:
    """``clients`` clients POSTing ``bodies`` in turn with ``headers``, each as soon as its last
    reply is in; a reply of 300 or above is an error. ``keyed``: every request carries an
    ``Idempotency-Key`` of its own, as an agent's does (and ``bench.wrk``'s keyed loop)."""
    nonce = uuid.uuid4().hex[:12]

    def make(n: int) -> tuple[bytes, dict[str, str]]:
        sent = {**headers, "Idempotency-Key": f"{nonce}-{n}"} if keyed else headers
        return bodies[n % len(bodies)], sent

    return await closed_loop_of(
        url,
        make,
        _below_300,
        clients=clients,
        seconds=seconds,
        warmup=warmup,
    )


@_without_collector
async def closed_loop_of(
    url: str,
    make: Make,
    ok: Ok,
    *,
    clients: int,
    seconds: float,
    warmup: float = 1.0,
    at_least: int = 1,
) -> Result:
    """``clients`` clients on one connection pool, each POSTing request ``make(n)`` as soon as
    its last reply is in, for ``seconds`` after ``warmup`` and on until ``at_least`` requests
    are measured; a reply ``ok`` refuses is an error."""
    connector = aiohttp.TCPConnector(limit=clients)
    latencies: list[float] = []
    seen: Counter[str] = Counter()
    counter = 0
    late = False  # whether a request measured began past the window
    ended = 0.0  # when the last request measured ended
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        measure_from = start + warmup
        stop = measure_from + seconds

        async def client() -> None:
            nonlocal counter, late, ended
            # Past ``stop`` only until ``at_least`` requests are measured (one by default): a
            # window no request began in (each took longer, on a machine busy with other work)
            # is slow, not nothing done, and is then counted to the end of the requests it took.
            while (now := time.perf_counter()) < stop or len(latencies) < at_least:
                counter += 1
                body, sent_with = make(counter)
                failed = await _post(session, url, body, sent_with, ok)
                done = time.perf_counter()
                if now >= measure_from:
                    latencies.append((done - now) * 1000)
                    if failed is not None:
                        seen[failed] += 1
                    late = late or now >= stop
                    ended = max(ended, done)

        await asyncio.gather(*(client() for _ in range(clients)))
    span = ended - measure_from if late else seconds
    return Result(len(latencies), span, latencies, seen.total(), seen=dict(seen))


@_without_collector
async def open_loop(
    url: str,
    bodies: Sequence[bytes],
    headers: dict[str, str],
    *,
    rate: float,
    seconds: float,
    warmup: float = 1.0,
    keyed: bool = False,
) -> Result:
    """``keyed``: every request carries an ``Idempotency-Key`` of its own, as an agent's does."""
    connector = aiohttp.TCPConnector(limit=0)
    latencies: list[float] = []
    seen: Counter[str] = Counter()
    nonce = uuid.uuid4().hex[:12]
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(index: int, scheduled: float, measured: bool) -> None:
            sent = {**headers, "Idempotency-Key": f"{nonce}-{index}"} if keyed else headers
            failed = await _post(session, url, bodies[index % len(bodies)], sent, _below_300)
            if measured:
                latencies.append((time.perf_counter() - scheduled) * 1000)
                if failed is not None:
                    seen[failed] += 1

        tasks = []
        start = time.perf_counter()
        total = int((warmup + seconds) * rate)
        for index in range(total):
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, scheduled, index >= warmup * rate)))
        await asyncio.gather(*tasks)
    return Result(len(latencies), seconds, latencies, seen.total(), seen=dict(seen))
