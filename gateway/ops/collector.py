"""The garbage collector around a process's start: held off while the process imports and
builds itself, then on, with all it made frozen.

What a gateway, worker or ``aitopup mcp`` makes as it starts (modules, tables, models, the
app, its clients) lives as long as the process. The collector's passes over those objects as
they are made were a fifth of a start (docs/performance.md, "Figures behind the code's
choices"), and a full collection walking them later a 50 ms stall: a p99 on the gateway, every
delivery in flight on the worker. So an entry that starts a process holds the collector off
(``held``) and the process says when it has started (``started``)."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["held", "started"]


@contextmanager
def held() -> Iterator[None]:
    """The collector off for the block, or until ``started``; on again when the block ends,
    however it ends."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def started() -> None:
    """What is alive now stays out of the collector's sight for good, and the collector runs."""
    gc.freeze()
    gc.enable()
