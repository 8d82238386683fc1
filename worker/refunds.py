"""Operators' refunds as a kind of the runner's (``REFUNDS``): a refund whose provider did not
answer its inline try (no answer in time, none read, the provider's own failure) is leased once
due and asked again under the same idempotency key (``admin.refunds.attempt``), which records
the answer as the row's transition: succeeded; failed, its debit reversed; or due again on
``DELAYS``, failed and reversed past them.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from gateway import outbox
from gateway.admin import refunds
from gateway.store.raw import Raw
from gateway.values.settings import Settings

from .deps import Deps
from .kind import Bounds

__all__ = ["REFUNDS", "Refunds"]

CONCURRENCY = 4  # tries in flight at once per worker process: refunds are rare


class Refunds:
    name = outbox.REFUND
    queue = refunds.QUEUE

    def bounds(self, settings: Settings) -> Bounds:
        return Bounds(
            concurrency=CONCURRENCY,
            share=CONCURRENCY,
            lease_seconds=refunds.lease_seconds(settings),
        )

    async def taken(self, tx: Raw, rows: list[SimpleNamespace], now: datetime) -> Sequence[Any]:
        return rows

    def merchant(self, item: Any) -> str:
        return str(item.merchant_id)

    async def attempt(self, deps: Deps, item: Any, sent: Callable[[], None]) -> Iterable[str]:
        tried = await refunds.attempt(deps.db, deps.settings, item, sent)
        return tried.deliveries


REFUNDS = Refunds()
