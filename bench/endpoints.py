"""Webhook endpoints for the benchmarks, written straight to the store (no URL check: the
benchmarks' receivers are local, or never called)."""

from datetime import datetime

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
) -> str:
    """An enabled endpoint for every event type (``ordered``: its deliveries one at a time, in
    order); its secret, as ``whsec_…``."""
    endpoint_id = new_id("we")
    secret = new_webhook_secret()
    await conn.execute(
        insert(table_of(WebhookEndpoint)).values(
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
    )
    return secret
