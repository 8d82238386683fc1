"""Payments to sellers: what the environment's agents paid sellers' 402s with the wallet
(``POST /payments``), newest first, filtered by state and paged by cursor as the API pages them;
one payment's page; and beside the list, what each seller was paid in the current windows and
what each key may still pay it under its ``per_payee_limit``.

Each is the API's read (``sellers.service.list_page``, ``get``, and
``sellers.paid.paid_to_payees``) through ``operations.perform``: no credential is ever
read here, as none of those reads carries one. A payment in a state no move leaves (``used``,
``released``, ``failed``) was last changed by the move into it: its ``updated_at`` is when it
was used or released. The page is live: the overview's stream says when the environment's
payments changed, and the page's regions are fetched again."""

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..approvals import links
from ..operations import perform
from ..policies.payees import origin_of
from ..sellers import paid
from ..sellers import service as sellers
from ..sellers.hold import PAYMENTS
from ..sellers.schemas import PAY_ID, PaymentData
from ..sellers.states import HELD, TRANSITIONS
from ..services import services
from ..values.marking import marked
from . import payment_bindings
from .context import require_viewer
from .policy_form import INTERVAL_WORDS
from .render import page

__all__ = ["PAGE_SIZE", "STATES", "routes"]

PAGE_SIZE = 20
# Every state a payment can be in, in the order of its moves' table.
STATES: tuple[str, ...] = tuple(dict.fromkeys(t.target for t in TRANSITIONS.values()))
# The states no move leaves, whose ``updated_at`` says when the payment ended there, and what
# the page calls that moment (each translated where shown).
ENDED = {"used": marked("Used"), "released": marked("Released"), "failed": marked("Failed")}


def _origin(payment: PaymentData) -> str:
    """The origin of the url the agent named: a label beside where the money went
    (``PaymentData.destination``), which ``per_payee_limit`` counts by."""
    try:
        return origin_of(payment.url)
    except ValueError:  # every stored URL was read so; shown as it is otherwise
        return payment.url


async def list_payments(request: Request) -> Response:
    viewer = await require_viewer(request)
    svc = services(request)
    query = request.query_params
    status = query.get("status", "")
    status = status if status in STATES else ""
    cursor = query.get("cursor", "")
    cursor = cursor if PAY_ID.fullmatch(cursor) else ""
    listed = await perform(
        svc.waker,
        sellers.list_page(
            svc.db, viewer.caller, limit=PAGE_SIZE, cursor=cursor or None, status=status or None
        ),
    )
    items = listed.many(PaymentData)
    more = bool(listed.meta and listed.meta["has_more"])
    per_seller = await perform(svc.waker, paid.paid_to_payees(svc.db, viewer.caller))
    context = {
        "items": items,
        "origins": {p.id: _origin(p) for p in items},
        "next_cursor": items[-1].id if more and items else None,
        "status": status,
        "paged": bool(cursor),
        "states": STATES,
        "ended": ENDED,
        "paid": per_seller.one(paid.PaidToPayees),
        "interval_words": INTERVAL_WORDS,
        **await payment_bindings.context(request, viewer),
    }
    return page(request, "payments/index.html", context)


async def show_payment(request: Request) -> Response:
    viewer = await require_viewer(request)
    payment_id: str = request.path_params["payment_id"]
    if not PAY_ID.fullmatch(payment_id):
        raise HTTPException(404)
    svc = services(request)
    found = (await perform(svc.waker, sellers.get(svc.db, viewer.caller, payment_id))).one(
        PaymentData
    )
    unasked = False
    if found.status == HELD:
        asked = await perform(svc.waker, links.asked(svc.db, PAYMENTS, found.id))
        unasked = asked.one(int) == 0
    context = {"payment": found, "origin": _origin(found), "ended": ENDED, "unasked": unasked}
    return page(request, "payments/detail.html", context)


routes: list[BaseRoute] = [
    Route("/payments", list_payments, methods=["GET"]),
    *payment_bindings.routes,
    Route("/payments/{payment_id}", show_payment, methods=["GET"]),
]
