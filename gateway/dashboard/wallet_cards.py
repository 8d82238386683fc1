"""The Wallet page's cards of the daily check-in, the staging test clock and the subscription's
paid periods, with their forms and each period's receipt, through the operations the API calls
(``checkin``, ``renewals.advance_clock``, ``subscription_invoices``).

Each form posts, acts and sends the browser back to the wallet (post, redirect, get): the card
then reads where things stand (today's check-in and its reward, or when the next one opens; the
clock's time), and the redirect's query names which fixed sentence to show.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import merchant_limits
from ..billing import sandbox_clock
from ..billing.checkin import daily as checkin
from ..billing.checkin.schemas import CheckInToday
from ..billing.receipts.pdf import ReceiptFile
from ..billing.sandbox_clock import ClockAdvance, ClockData
from ..billing.schemas import ReceiptData
from ..billing.subscriptions import (
    invoices as subscription_invoices,
)
from ..billing.subscriptions import (
    renewals,
)
from ..billing.subscriptions.schemas import SubscriptionInvoiceData
from ..callers import Caller
from ..operations import perform
from ..services import services
from ..store.engine import Database
from ..values.code_names import Code
from ..values.marking import marked
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from .cards import Card
from .context import Viewer, require_viewer
from .inputs import field
from .render import page

__all__ = [
    "PERIODS_SHOWN",
    "ReceiptDraw",
    "ReceiptRead",
    "context",
    "receipt_page_reply",
    "receipt_pdf_reply",
    "routes",
]

# The newest paid periods the card lists; the API pages through every one.
PERIODS_SHOWN = 12
_DAY = 86_400
# Set only by this module's redirects: ?checkin= and ?clock= name a fixed sentence each.
_CHECKIN = Card(
    "wallet_page",
    "checkin",
    {
        "done": marked("Checked in: the reward is in your wallet."),
        "taken": marked("Already checked in today."),
        "off": marked("Daily check-in is off in this environment."),
    },
    {Code.CHECKIN_ALREADY_DONE: "taken", Code.CHECKIN_DISABLED: "off"},
)
_CLOCK = Card(
    "wallet_page",
    "clock",
    {
        "advanced": marked("The test clock moved forward; every renewal it passed has run."),
        "invalid": marked("Enter a whole number of days, 1 to 400."),
        "too-far": marked("The test clock cannot run more than 10 years ahead of real time."),
        "too-often": marked("The test clock was advanced too often; try again in a minute."),
    },
    {Code.TEST_CLOCK_TOO_FAR: "too-far", Code.TEST_CLOCK_RATE_LIMITED: "too-often"},
)


async def context(request: Request, viewer: Viewer) -> dict[str, Any]:
    """What the cards show: today's check-in, the staging clock, the newest paid periods."""
    svc = services(request)
    caller = viewer.caller
    today = (await perform(svc.waker, checkin.today(svc.db, caller))).one(CheckInToday)
    clock = None
    if viewer.env == "staging":
        clock = (await perform(svc.waker, sandbox_clock.read(svc.db, caller))).one(ClockData)
    listed = subscription_invoices.list_invoices(
        svc.db, svc.settings, caller, limit=PERIODS_SHOWN, offset=0
    )
    periods = (await perform(svc.waker, listed)).many(SubscriptionInvoiceData)
    return {
        "checkin_today": today,
        "checkin_notice": _CHECKIN.notice(request),
        "clock": clock,
        # Every relative time on the page counts from the environment's clock.
        "now": None if clock is None else datetime.fromisoformat(clock.now.replace("Z", "+00:00")),
        "clock_notice": _CLOCK.notice(request),
        "periods": periods,
    }


async def check_in(request: Request, viewer: Viewer, data: FormData) -> str:
    """The API's check-in, the same operation; the card then shows the reward taken today."""
    svc = services(request)
    await perform(svc.waker, checkin.check_in(svc.db, viewer.caller))
    return "done"


async def advance_clock(request: Request, viewer: Viewer, data: FormData) -> str:
    """The API's advance of the staging test clock, by whole days (a live viewer is refused
    by the operation itself)."""
    typed = field(data, "days", 10).strip()
    try:
        body = ClockAdvance(seconds=int(typed) * _DAY) if typed.isdigit() else None
    except ValueError:
        body = None
    if body is None:
        return "invalid"
    svc = services(request)
    sandbox_clock.staging_only(viewer.caller)
    await merchant_limits.TEST_CLOCK_ADVANCE.count(svc, viewer.merchant_id)
    await perform(svc.waker, renewals.advance_clock(svc.db, viewer.caller, body.seconds))
    return "advanced"


def _invoice_id(request: Request) -> str:
    invoice_id: str = request.path_params["invoice_id"]
    if not subscription_invoices.INVOICE_ID.fullmatch(invoice_id):
        raise ApiError(Code.SUBSCRIPTION_INVOICE_NOT_FOUND)
    return invoice_id


# A receipt's read and its PDF, an order's or a period's, as the services take them.
ReceiptRead = Callable[[Database, Settings, Caller, str], Awaitable[Outcome]]
ReceiptDraw = Callable[[Database, Settings, Caller, str], Awaitable[ReceiptFile]]


async def receipt_page_reply(
    request: Request, viewer: Viewer, receipt_id: str, read: ReceiptRead
) -> Response:
    """A receipt's page, an order's or a period's: the one template for both."""
    svc = services(request)
    done = await perform(svc.waker, read(svc.db, svc.settings, viewer.caller, receipt_id))
    return page(request, "wallet/receipt.html", {"receipt": done.one(ReceiptData)})


async def receipt_pdf_reply(
    request: Request, viewer: Viewer, receipt_id: str, draw: ReceiptDraw
) -> Response:
    """A receipt's PDF, an order's or a period's, as the API's draws it, within the same limit
    (counted first, so a refused one draws nothing)."""
    svc = services(request)
    await merchant_limits.RECEIPT_PDFS.count(svc, viewer.merchant_id, viewer.env)
    found = await draw(svc.db, svc.settings, viewer.caller, receipt_id)
    return Response(found.content, media_type=found.media_type, headers=found.headers())


async def period_receipt_page(request: Request) -> Response:
    """A paid period's receipt, on the page an order's receipt has."""
    viewer = await require_viewer(request)
    invoice_id = _invoice_id(request)
    return await receipt_page_reply(
        request, viewer, invoice_id, subscription_invoices.period_receipt
    )


async def period_receipt_pdf(request: Request) -> Response:
    viewer = await require_viewer(request)
    invoice_id = _invoice_id(request)
    return await receipt_pdf_reply(
        request, viewer, invoice_id, subscription_invoices.period_receipt_pdf
    )


_PERIOD = "/wallet/subscription/invoices/{invoice_id}"

routes: list[BaseRoute] = [
    Route("/wallet/checkin", _CHECKIN.posted(check_in), methods=["POST"]),
    Route("/wallet/clock/advance", _CLOCK.posted(advance_clock), methods=["POST"]),
    Route(_PERIOD + "/receipt", period_receipt_page, methods=["GET"]),
    Route(_PERIOD + "/receipt.pdf", period_receipt_pdf, methods=["GET"]),
]
