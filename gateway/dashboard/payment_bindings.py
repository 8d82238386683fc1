"""The Payments page's bound destinations card: the destinations a person bound to an origin,
which an origin in a key's ``allowed_payees`` admits, and the forms to bind one and unbind it,
through the operations the API's ``/payments/bindings`` calls (``sellers.bindings``),
so the page adds no rule of its own. Whoever may approve a held payment (the ``topups`` action,
the ``approvals`` scope's) may bind; the others read.

Each form posts, acts and sends the browser back to the page (post, redirect, get), the
redirect's query naming which fixed sentence to show: a refusal never repeats what was typed.
"""

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ..operations import perform
from ..sellers import bindings
from ..sellers.schemas import BINDING_ID, BindingCreate, BindingData
from ..services import services
from ..values.code_names import Code
from ..values.marking import marked
from .cards import Card
from .context import Viewer
from .inputs import field

__all__ = ["context", "routes"]

_NOTICES = {
    "bound": marked("Destination bound: payments to it under that origin are no longer held."),
    "unbound": marked("Destination unbound: payments to it under that origin are held again."),
    "invalid": marked("An origin is scheme://host[:port]; a destination is a payment's own."),
}
_CARD = Card(
    "list_payments",
    "binding",
    _NOTICES,
    {Code.VALIDATION_FAILED: "invalid", Code.PAYEE_BINDING_NOT_FOUND: "unbound"},
    anchor="bindings",
)
_SHOWN = 100


async def context(request: Request, viewer: Viewer) -> dict[str, Any]:
    """What the card shows: the environment's bindings, newest first, to whoever may decide
    payments (``None`` to the others), and the sentence a redirect named."""
    if not viewer.can("topups"):
        return {"bindings": None, "binding_notice": None}
    svc = services(request)
    listed = await perform(
        svc.waker, bindings.listed(svc.db, viewer.caller, limit=_SHOWN, cursor=None)
    )
    return {"bindings": listed.many(BindingData), "binding_notice": _CARD.notice(request)}


async def add_binding(request: Request, viewer: Viewer, data: FormData) -> str:
    body = BindingCreate(
        origin=field(data, "origin", 300), destination=field(data, "destination", 300)
    )
    await perform(services(request).waker, bindings.add(services(request).db, viewer.caller, body))
    return "bound"


async def remove_binding(request: Request, viewer: Viewer, data: FormData) -> str:
    found: str = request.path_params["binding_id"]
    if BINDING_ID.fullmatch(found):
        svc = services(request)
        await perform(svc.waker, bindings.remove(svc.db, viewer.caller, found))
    return "unbound"  # or gone already: unbound all the same


routes: list[BaseRoute] = [
    Route("/payments/bindings", _CARD.posted(add_binding, invalid="invalid"), methods=["POST"]),
    Route("/payments/bindings/{binding_id}/remove", _CARD.posted(remove_binding), methods=["POST"]),
]
