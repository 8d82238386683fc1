"""The deliveries as a queue (``store.queue``): leased by the worker's runner, recorded by the
worker's store (``worker.store``), and counted by the metrics, all by this one definition.

A delivery the throttle holds to its slot is leased before older fresh ones. A lease's end is
written apart from the due time, to a column in no index: the lease, the most frequent write of
the busiest table, is a heap-only update on PostgreSQL (docs/performance.md)."""

from .models import WebhookDelivery, table_of
from .queue import Queue

__all__ = ["QUEUE"]

_D = table_of(WebhookDelivery)

QUEUE = Queue(
    _D,
    due="pending",
    done="succeeded",
    failed="failed",
    stamp_says_due=True,
    first=_D.c.throttle_slot_us.is_not(None),
    lease_end="leased_until",
    # Partitioned by id on PostgreSQL, a week a partition (``store.partitions``).
    partitioned=True,
    # What sending one reads (``worker.delivery``, ``worker.ordered``, ``webhooks.throttle``):
    # its state, its due time and its type are the record's to write, its event's to say.
    returns=(
        "id",
        "event_id",
        "endpoint_id",
        "env",
        "merchant_id",
        "attempts",
        "trigger",
        "run_start",
        "generation",
        "throttle_slot_us",
        "batch_head",
        "leased_until",
    ),
)
