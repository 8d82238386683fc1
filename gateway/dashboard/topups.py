"""Top-ups: the list with filters, one top-up (its voucher, so never cached), cancelling a pending
one, and the approvals inbox (sends held above a key's approval line, and payments to sellers a
key's policy held, approved or denied; a payment by ``sellers.doors``). Each change is the
API's own operation (``topup.service.cancel``, ``topup.approvals.approve``/``deny``), and a top-up's
page reads ``topup.approvals.review`` (the top-up as the API shows it, with its hold and decision),
through ``operations.perform``, which wakes the workers for its rows once it has committed; the
viewer decides as ``user:<id>``, recorded in ``decided_by``."""

import re
from dataclasses import replace

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..approvals import links
from ..holds import registry
from ..operations import perform
from ..sellers import doors as payment_doors
from ..sellers.schemas import PAY_ID
from ..services import services
from ..topup import approvals, cancelling, doors, listed
from ..topup.hold import SENDS
from ..values import statuses
from ..values.platforms import PLATFORMS
from .context import require_viewer
from .csrf import form
from .paths import path_for
from .render import page

__all__ = ["PAGE_SIZE", "routes", "txn_id"]

PAGE_SIZE = 25
_TXN_ID = re.compile(r"txn_[0-9a-z]{24}")


def txn_id(request: Request) -> str:
    """The top-up id in the path; a malformed one is simply not found."""
    found: str = request.path_params["txn_id"]
    if not _TXN_ID.fullmatch(found):
        raise HTTPException(404)
    return found


def _choice(value: str | None, allowed: tuple[str, ...]) -> str:
    return value if value in allowed else ""


async def list_topups(request: Request) -> Response:
    viewer = await require_viewer(request)
    query = request.query_params
    filters = {
        "status": _choice(query.get("status"), statuses.STATUSES),
        "platform": _choice(query.get("platform"), PLATFORMS),
        "recipient": query.get("recipient", "").strip()[:254],
    }
    before = query.get("before", "")
    rows, more = await listed.topups(
        services(request).db,
        viewer.caller,
        limit=PAGE_SIZE,
        before=before if _TXN_ID.fullmatch(before) else None,
        status=filters["status"] or None,
        platform=filters["platform"] or None,
        recipient=filters["recipient"] or None,
    )
    return page(
        request,
        "topups/index.html",
        {
            "rows": rows,
            "next_before": rows[-1].id if more else None,
            "filters": filters,
            "statuses": statuses.STATUSES,
            "platforms": PLATFORMS,
        },
    )


async def show_topup(request: Request) -> Response:
    viewer = await require_viewer(request)
    svc = services(request)
    read = approvals.review(svc.db, svc.sealer, viewer.caller, txn_id(request))
    found = (await perform(svc.waker, read)).one(approvals.Review)
    unasked = False
    if found.topup.status == statuses.HELD:
        asked = await perform(svc.waker, links.asked(svc.db, SENDS, found.topup.id))
        unasked = asked.one(int) == 0
    return page(
        request,
        "topups/detail.html",
        {
            "topup": found.topup,
            "decision": found.decision,
            "fulfilment": found.fulfilment,
            "quota": found.quota,
            "unasked": unasked,
        },
        no_store=True,
    )


async def confirm_decision(request: Request) -> Response:
    """The confirmation step before a decision: the send, why it was held, and one button."""
    viewer = await require_viewer(request)
    svc = services(request)
    read = approvals.review(svc.db, svc.sealer, viewer.caller, txn_id(request))
    found = (await perform(svc.waker, read)).one(approvals.Review)
    approve = request.url.path.endswith("/approve")
    return page(
        request,
        "topups/confirm.html",
        {"topup": found.topup, "decision": found.decision, "approve": approve},
        no_store=True,
    )


async def cancel_topup(request: Request) -> Response:
    viewer = await require_viewer(request)
    await form(request)
    svc = services(request)
    found = txn_id(request)
    await perform(svc.waker, cancelling.cancel(svc.db, svc.sealer, viewer.caller, found))
    return RedirectResponse(path_for("show_topup", txn_id=found), status_code=303)


async def approvals_inbox(request: Request) -> Response:
    viewer = await require_viewer(request)
    svc = services(request)
    sections = []
    for hold in registry.holds():
        section = await hold.inbox(svc, viewer.caller, limit=PAGE_SIZE)
        unasked = await perform(svc.waker, links.unasked(svc.db, hold, section.ids))
        sections.append(replace(section, unasked=unasked.one(frozenset)))
    return page(request, "topups/approvals.html", {"sections": sections})


def _payment_id(request: Request) -> str:
    """The payment id in the path; a malformed one is simply not found."""
    found: str = request.path_params["payment_id"]
    if not PAY_ID.fullmatch(found):
        raise HTTPException(404)
    return found


async def _decide_payment(request: Request, approve: bool) -> Response:
    viewer = await require_viewer(request)
    await form(request)
    svc = services(request)
    found = _payment_id(request)
    decide = payment_doors.approve if approve else payment_doors.deny
    await decide(svc, viewer.caller, found)
    verdict = "paid" if approve else "released"
    return RedirectResponse(path_for("approvals_inbox") + f"?{verdict}={found}", status_code=303)


async def approve_payment(request: Request) -> Response:
    return await _decide_payment(request, approve=True)


async def deny_payment(request: Request) -> Response:
    return await _decide_payment(request, approve=False)


async def _decide(request: Request, approve: bool) -> Response:
    viewer = await require_viewer(request)
    await form(request)
    svc = services(request)
    found = txn_id(request)
    decide = doors.approve if approve else doors.deny
    await decide(svc, viewer.caller, found)
    verdict = "approved" if approve else "denied"
    return RedirectResponse(path_for("approvals_inbox") + f"?{verdict}={found}", status_code=303)


async def approve_topup(request: Request) -> Response:
    return await _decide(request, approve=True)


async def deny_topup(request: Request) -> Response:
    return await _decide(request, approve=False)


routes: list[BaseRoute] = [
    # Before /topups/{txn_id}, which would take "approvals" for an id.
    Route("/topups/approvals", approvals_inbox, methods=["GET"]),
    Route(
        "/topups/approvals/payments/{payment_id}/approve",
        approve_payment,
        methods=["POST"],
        name="approve_held_payment",
    ),
    Route(
        "/topups/approvals/payments/{payment_id}/deny",
        deny_payment,
        methods=["POST"],
        name="deny_held_payment",
    ),
    Route("/topups/{txn_id}/approve", confirm_decision, methods=["GET"], name="confirm_approve"),
    Route("/topups/{txn_id}/approve", approve_topup, methods=["POST"]),
    Route("/topups/{txn_id}/deny", confirm_decision, methods=["GET"], name="confirm_deny"),
    Route("/topups/{txn_id}/deny", deny_topup, methods=["POST"]),
    Route("/topups", list_topups, methods=["GET"]),
    Route("/topups/{txn_id}", show_topup, methods=["GET"]),
    Route("/topups/{txn_id}/cancel", cancel_topup, methods=["POST"]),
]
