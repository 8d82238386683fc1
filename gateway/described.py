"""The gateway's description of itself, the same at every door: the OpenAPI document of its
routes with the events it sends (its ``webhooks``), and the agents' guide rendered from it
(``/llms.txt``, MCP's guide resource, ``aitopup mcp``'s)."""

from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute

from .ops import guide, openapi
from .protocols import registry
from .webhooks import event_docs

__all__ = ["agents_guide", "document"]


def document(
    routes: Iterable[BaseRoute], translate: openapi.Translate | None = None
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` and of every event type; with ``translate`` (a
    catalogue's ``gettext``), its summaries in that language (the API explorer's)."""
    paid = registry.headers()
    if translate is None:
        return openapi.build(routes, event_docs.webhook_docs(), paid_headers=paid)
    return openapi.build(routes, event_docs.webhook_docs(), translate, paid_headers=paid)


def agents_guide(routes: Iterable[BaseRoute]) -> str:
    """The plain-text guide for agents, from the same document."""
    return guide.llms_txt(document(routes))
