"""Rows from many callers, joined into as few transactions as the load allows.

The store's engines join separate works into one commit (group commit: ``store.sqlite``,
``store.postgres``); this joins the rows of many callers into one work, with one statement per
kind of row. While one transaction runs, the rows that arrive meanwhile wait, and the next
transaction carries them all. An idle caller still has its row written at once; a busy process
pays one transaction per batch. The worker's records of deliveries are written so
(``worker.store``): run one by one, each attempt's two rows queued on the store, and the worker
spent its time waiting rather than sending.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, Generic, TypeVar

from .engine import Database
from .raw import Raw
from .unreachable import is_unreachable

__all__ = ["Joined"]

log = logging.getLogger(__name__)

I = TypeVar("I")  # noqa: E741 (an item, as in typing's own examples)
R = TypeVar("R")

Write = Callable[[Raw, list[I]], Coroutine[Any, Any, list[R]]]


class Joined(Generic[I, R]):
    """``await joined.add(item)``: ``item`` written with the others waiting meanwhile, by one
    ``write(tx, items)`` that answers each item in order, in one ``Database.run``.

    ``each_statement(items)``: whether every statement ``write`` runs for those items stands
    alone (``Database.run``'s ``each_statement``). ``most``: the most items one transaction
    takes (its statements, and SQLite's bound-parameter count). If a batch fails, each of its
    items is tried again alone, so one bad row does not fail its neighbours; an item that fails
    alone raises ``failure`` to its caller. A batch the store could not take (down, stalled:
    ``is_unreachable``) fails whole at once, as do the items still to try alone when it goes
    away meanwhile: alone, each would wait out the same bound in turn, and a batch of hundreds
    would hold the next for as many bounds."""

    def __init__(
        self,
        db: Database,
        write: Write[I, R],
        *,
        each_statement: Callable[[Sequence[I]], bool],
        failure: str,
        most: int = 500,
    ) -> None:
        self._db = db
        self._write = write
        self._each_statement = each_statement
        self._failure = failure
        self._most = most
        self._waiting: list[tuple[I, asyncio.Future[R]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def add(self, item: I) -> R:
        waiter: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, waiter))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        # A cancelled caller cancels only its own waiter: the batch runs in its own task and
        # finishes, and answers only the waiters still waiting.
        return await waiter

    async def drain(self) -> None:
        """Let the batch in hand finish before the engine is disposed under it."""
        if self._runner is not None:
            await asyncio.gather(self._runner, return_exceptions=True)

    async def _run(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self._most], self._waiting[self._most :]
            try:
                await self._step(batch)
            except Exception as exc:
                if is_unreachable(exc):
                    self._outage(batch, exc)
                elif len(batch) == 1:
                    self._fail(batch)
                else:
                    log.warning(
                        "a joined batch failed; its rows are written one by one", exc_info=True
                    )
                    await self._one_by_one(batch)

    async def _one_by_one(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        for n, one in enumerate(batch):
            try:
                await self._step([one])
            except Exception as exc:
                if is_unreachable(exc):
                    self._outage(batch[n:], exc)
                    return
                self._fail([one])

    async def _step(self, batch: list[tuple[I, asyncio.Future[R]]]) -> None:
        items = [item for item, _ in batch]

        async def write(tx: Raw) -> list[R]:
            return await self._write(tx, items)

        answers = await self._db.run(write, each_statement=self._each_statement(items))
        for (_, waiter), answer in zip(batch, answers, strict=True):
            if not waiter.done():
                waiter.set_result(answer)

    def _outage(self, batch: Sequence[tuple[I, asyncio.Future[R]]], exc: Exception) -> None:
        """The store did not take ``batch``: an outage passes, said once without a traceback."""
        log.warning("the store did not take %d joined rows: %r", len(batch), exc)
        self._fail(batch)

    def _fail(self, batch: Sequence[tuple[I, asyncio.Future[R]]]) -> None:
        for _, waiter in batch:
            if not waiter.done():
                waiter.set_exception(RuntimeError(self._failure))
