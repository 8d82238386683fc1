"""Each merchant's share of a pool of outbound connections: at most so many of one merchant's
exchanges in flight at once, so one merchant's slow far sides (webhook receivers, in the
worker's ``delivery``; upstreams, in ``WebhookTransport`` under ``upstreams.outbound``) hold its
share and no more, and other merchants' go ahead."""

import asyncio
from collections import deque

from ..values.clock import SYSTEM, Clock

__all__ = ["Shares"]


class Shares:
    """Each merchant's share of a pool's connections: at most ``each`` of its exchanges in
    flight at once.

    ``acquire`` answers at once while the merchant has a slot free. Otherwise the exchange waits
    for that merchant's next free slot, first come first served, while other merchants' go
    ahead; a slot freed goes straight to the merchant's next waiter. A wait lasts at most
    ``hold`` seconds: past it ``acquire`` answers False, the caller puts the exchange off (a
    delivery) or fails it (an upstream call), and so does every later exchange of that merchant
    (at once, without waiting) until one of its slots comes free with nobody waiting for it.
    Waits are timed by one timer per merchant that has any, not one per wait, on ``clock``."""

    def __init__(self, each: int, *, hold: float, clock: Clock = SYSTEM) -> None:
        self.each = each
        self._hold = hold
        self._clock = clock
        self._busy: dict[str, int] = {}
        self._waiting: dict[str, deque[tuple[float, asyncio.Future[bool]]]] = {}
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._backed_up: set[str] = set()

    def in_flight(self, key: str) -> int:
        return self._busy.get(key, 0)

    def waiting(self, key: str) -> int:
        """Waits of ``key`` not yet answered (a cancelled one counts until a release skips it)."""
        return len(self._waiting.get(key, ()))

    async def acquire(self, key: str) -> bool:
        """True: a slot is held, until ``release(key)``. False: no slot within the hold."""
        busy = self._busy.get(key, 0)
        if busy < self.each:
            self._busy[key] = busy + 1
            return True
        if key in self._backed_up:
            return False
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = deque()
            self._timers[key] = self._timer(self._hold, key)
        waiting.append((self._clock.monotonic() + self._hold, waiter))
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.result():
                self.release(key)  # a slot handed over as the wait was cancelled: pass it on
            raise

    def release(self, key: str) -> None:
        waiting = self._waiting.get(key)
        while waiting:
            _, waiter = waiting.popleft()
            if not waiter.done():  # a cancelled wait is done: skipped
                waiter.set_result(True)  # the slot passes on, still counted as busy
                return
        if waiting is not None:  # its timer goes with its waits (``_expire``)
            self._stop_waiting(key)
        self._backed_up.discard(key)
        busy = self._busy[key] - 1
        if busy:
            self._busy[key] = busy
        else:
            del self._busy[key]

    def _timer(self, seconds: float, key: str) -> "asyncio.Task[None]":
        async def expire() -> None:
            await self._clock.sleep(seconds)
            self._expire(key)

        return asyncio.create_task(expire())

    def _expire(self, key: str) -> None:
        waiting = self._waiting.get(key)
        now = self._clock.monotonic()
        while waiting and waiting[0][0] <= now:
            _, waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(False)
                self._backed_up.add(key)
        if waiting:
            self._timers[key] = self._timer(waiting[0][0] - now, key)
        else:
            self._timers.pop(key, None)
            self._waiting.pop(key, None)

    def _stop_waiting(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        self._waiting.pop(key, None)
