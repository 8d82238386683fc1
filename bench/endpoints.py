"""Webhook endpoints for the benchmarks, written straight to the store (no URL check: the
benchmarks' receivers are local, or never called)."""

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.store.models import WebhookEndpoint, table_of
from gateway.values.clock import new_id
from keys import Sealer, new_webhook_secret

__all__ = ["add_endpoint"]


async def add_endpoint(
    conn: AsyncConnection,
    sealer: Sealer,
    *,
    env: str,
    merchant_id: str,
    url: str,
    now: datetime,
    ordered: bool = False,
    endpoint_id: str | None = None,
    columns: dict[str, Any] | None = None,
) -> str:
    """An enabled endpoint for every event type (``ordered``: its deliveries one at a time, in
    order); its secret, as ``whsec_…``. ``columns``: where it delivers, when that is a broker's
    destination (``destinations.saving.judged``'s, sealed to ``endpoint_id``)."""
    endpoint_id = endpoint_id or new_id("we")
    secret = new_webhook_secret()
    values: dict[str, Any] = dict(
        id=endpoint_id,
        env=env,
        merchant_id=merchant_id,
        url=url,
        event_types="",
        enabled=True,
        secret_sealed=sealer.seal(secret, context=endpoint_id),
        ordered=ordered,
        created_at=now,
        updated_at=now,
    )
    values.update(columns or {})
    await conn.execute(insert(table_of(WebhookEndpoint)).values(**values))
    return secret
