"""HTTP routes, one module a domain. Each parses, calls its service, and wraps the reply."""

from starlette.routing import BaseRoute

from . import meta, topup, webhooks

__all__ = ["public_routes"]

PREFIX = "/api/public/v1"


def public_routes() -> list[BaseRoute]:
    return [*meta.routes, *topup.routes, *webhooks.routes]
