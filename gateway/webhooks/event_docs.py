"""The event types as published: the entries of ``GET /webhooks/event-types`` (``EventTypeData``)
and the OpenAPI document's ``webhooks``, each read from the one table (``event_types.EVENTS``)."""

from functools import cache
from typing import Any

from pydantic import ConfigDict, Field

from ..ops.webhook_docs import WebhookDoc
from ..values.model import Model
from .event_types import EVENTS, body_model

__all__ = ["EventTypeData", "event_type_entries", "webhook_docs"]


class EventTypeData(Model):
    type: str
    description: str
    version: str = Field(description="When it appeared: v1, or the date it was added.")
    schema_: dict[str, Any] = Field(
        alias="schema", description="JSON Schema (2020-12) of the event's `data`."
    )
    example: dict[str, Any] = Field(description="A `data` valid against `schema`.")

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


@cache
def _entries() -> tuple[EventTypeData, ...]:
    return tuple(
        EventTypeData(
            type=spec.name,
            description=spec.description,
            version=spec.version,
            schema_=spec.data.model_json_schema(),
            example=spec.example,
        )
        for spec in EVENTS
    )


def event_type_entries() -> list[EventTypeData]:
    """The published table, in ``EVENTS``'s order."""
    return list(_entries())


_EXAMPLE_ENVELOPE = {"id": "evt_0mk3x7q2a1b2c3d4e5f6g7h8", "created": "2026-11-25T12:00:00Z"}


@cache
def _docs() -> tuple[WebhookDoc, ...]:
    return tuple(
        WebhookDoc(
            name=spec.name,
            summary=spec.description,
            version=spec.version,
            body=body_model(spec.name),
            example={
                "id": _EXAMPLE_ENVELOPE["id"],
                "type": spec.name,
                "created": _EXAMPLE_ENVELOPE["created"],
                "env": "live",
                "data": spec.example,
            },
        )
        for spec in EVENTS
    )


def webhook_docs() -> list[WebhookDoc]:
    """The OpenAPI document's ``webhooks``: one per event type, its body's model and example."""
    return list(_docs())
