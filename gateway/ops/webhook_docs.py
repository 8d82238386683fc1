"""How the OpenAPI document describes an event the gateway sends: a value with no transport in
it, so the domain's table of event types (``webhooks.event_types``) hands these to ``openapi``
without loading Starlette."""

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

__all__ = ["WebhookDoc"]


@dataclass(frozen=True, slots=True)
class WebhookDoc:
    """An event the gateway POSTs to merchants' endpoints, as the OpenAPI document's ``webhooks``
    describe it: ``body`` is the model of the whole request body, ``example`` one such body."""

    name: str
    summary: str
    version: str
    body: type[BaseModel]
    example: dict[str, Any]
