"""The kinds of background work the runner serves (``worker.runner``): one line each.

A new kind is a row shape (the common columns, ``store.queue``), a handler and a line here.
"""

from collections.abc import Sequence

from .auto_top_ups import AUTO_TOP_UPS
from .delivery import DELIVERIES
from .fulfil import FULFILMENTS
from .kind import Kind
from .mail import MAILS
from .payments import PAYMENTS
from .refunds import REFUNDS
from .replays import REPLAY_JOBS
from .telegram import TELEGRAM

__all__ = ["KINDS"]

KINDS: Sequence[Kind] = (
    DELIVERIES,
    MAILS,
    FULFILMENTS,
    REPLAY_JOBS,
    REFUNDS,
    TELEGRAM,
    AUTO_TOP_UPS,
    PAYMENTS,
)
