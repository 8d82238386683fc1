"""How a bench run ends when it is stopped. SIGTERM (``timeout``, a supervisor, ``kill``) unwinds
as Ctrl-C does: every server, database, pooler and role a suite started is put away by the
``with`` and ``finally`` blocks that put them away after a finished run, rather than left behind
for the next run to trip on (a PgBouncer on its port, a role no later run can drop). Installed
by each command's entry (``python -m bench``, ``make soak``, a suite run alone), never on import:
a test importing a suite keeps its own process's signals."""

import signal
from types import FrameType

__all__ = ["unwind_on_sigterm"]


def _stopped(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def unwind_on_sigterm() -> None:
    signal.signal(signal.SIGTERM, _stopped)
