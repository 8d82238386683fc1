"""An ordered endpoint's batches: how many of its events one request carries
(``webhook_endpoints.batch_size``), and the request's ``webhook-id``.

Above 1, every request to the endpoint is a JSON array of its events' bodies, oldest first,
even when only one is waiting: a receiver reads one shape. The worker forms a batch once, from
the head and the pending deliveries after it, and a retry sends the same events again
(``worker.ordered``), so the id, made from the first and last events' ids, is stable across
retries and a receiver dedupes a batch as it dedupes an event.
"""

import hashlib
from typing import Any

from ..values.code_names import Code
from ..values.outcome import ApiError

__all__ = ["MAX_BATCH_SIZE", "MIN_BATCH_SIZE", "batch_id", "check_batch", "check_batch_size"]

MIN_BATCH_SIZE = 1
# A request of 100 events of a few KB each stays well within what receivers take in one body.
MAX_BATCH_SIZE = 100


def check_batch_size(value: Any) -> int:
    """``batch_size`` as a request gave it: a whole number within the bounds."""
    ok = not isinstance(value, bool) and isinstance(value, int)
    if not ok or not MIN_BATCH_SIZE <= value <= MAX_BATCH_SIZE:
        raise ApiError(
            Code.WEBHOOK_BATCH_SIZE_INVALID, data={"min": MIN_BATCH_SIZE, "max": MAX_BATCH_SIZE}
        )
    result: int = value
    return result


def check_batch(ordered: bool, batch_size: int) -> None:
    """Batches keep an order: an endpoint that has none takes its events one a request."""
    if batch_size > 1 and not ordered:
        raise ApiError(Code.WEBHOOK_BATCH_NEEDS_ORDER)


def batch_id(first_event_id: str, last_event_id: str) -> str:
    """The ``webhook-id`` of the request carrying an ordered endpoint's events from
    ``first_event_id`` to ``last_event_id``."""
    digest = hashlib.sha256(f"{first_event_id}\n{last_event_id}".encode()).hexdigest()
    return f"batch_{digest[:32]}"
