"""Routes of the payment channels: each channel's notifications, one route a channel.

``/payment/webhook/{channel}`` takes what the channel's provider sends (a POST, or a GET with a
query string for a provider whose ``notify_methods`` say so), bounded by the provider's
``body_limit`` before it is read whole; the provider verifies it before anything in it is acted
on (``billing.settling.notices``: MyFatoorah's signed fields are in its JSON, so its bounded body is
parsed first). A notice taken is answered with the provider's acknowledgement (Epay's
text ``success``), or the envelope where the provider has none (Stripe's), a refusal with the
envelope and its code, never a trace. Stripe's events also come to the paths they always had
(``/payments/stripe/webhook`` and ``/payment/webhook/stripe``, listed before this one so the
literal path wins), which hand them to the same door (``take``).
"""

import logging

from starlette.requests import Request
from starlette.responses import Response

from ..billing.channels import offering
from ..billing.channels.registry import STRIPE, Inbound
from ..billing.settling import notices
from ..client_limits import PAYMENT_NOTICES
from ..operations import perform
from ..ops.routing import ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
from ..values.envelope import Envelope
from ..values.outcome import ApiError, Outcome
from ..values.parsing import read_capped

__all__ = ["routes", "stripe_webhook"]

log = logging.getLogger(__name__)

# A notify's query string (Epay's) has a dozen names; more is not a notification.
_QUERY_NAMES = 64


def _query(request: Request) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        found.setdefault(name, value)
        if len(found) > _QUERY_NAMES:
            raise ApiError(Code.PAYMENT_NOTICE_MALFORMED)
    return found


async def channel_webhook(request: Request) -> Response:
    svc = services(request)
    await PAYMENT_NOTICES.enforce(svc, request, Code.PAYMENT_NOTICES_RATE_LIMITED)
    channel: str = request.path_params["channel"]
    try:
        provider = offering.known(channel)
    except ApiError:
        log.warning("notification for unknown channel %r refused", channel[:40])
        raise
    if request.method not in provider.notify_methods:
        log.warning("%s notification refused: method %s", provider.name, request.method)
        raise ApiError(Code.METHOD_NOT_ALLOWED)
    try:
        body = await read_capped(request, provider.body_limit)
        query = _query(request)
    except ApiError as exc:
        log.warning("%s notification refused (%s)", provider.name, exc.code.name)
        raise
    inbound = Inbound(request.method, body, dict(request.headers.items()), query)
    outcome = await perform(svc.waker, notices.handle(svc.db, svc.settings, provider.name, inbound))
    return _acknowledged(outcome)


async def stripe_webhook(request: Request) -> Response:
    """Stripe's events at the paths its webhook always had: the same door as
    ``/payment/webhook/{channel}``."""
    svc = services(request)
    await PAYMENT_NOTICES.enforce(svc, request, Code.PAYMENT_NOTICES_RATE_LIMITED)
    provider = offering.known(STRIPE)
    body = await read_capped(request, provider.body_limit)
    inbound = Inbound("POST", body, dict(request.headers.items()), {})
    outcome = await perform(svc.waker, notices.handle(svc.db, svc.settings, provider.name, inbound))
    return _acknowledged(outcome)


def _acknowledged(outcome: Outcome) -> Response:
    """A notice taken: the provider's acknowledgement, or the envelope where it has none."""
    taken: notices.Taken = outcome.data
    ack = taken.ack
    if ack is None:
        return Envelope.of(Outcome(outcome.code, taken.reply()))
    return Response(ack.body, status_code=ack.status, media_type=ack.media_type)


routes = [
    ApiRoute(
        "/payment/webhook/{channel}",
        channel_webhook,
        methods=["GET", "POST"],
        doc=RouteDoc(
            "A payment channel's notifications (its provider's signature verified first; GET "
            "only for channels that notify by query string): credits each paid order once and "
            "answers what the provider expects (Epay: success)",
            "billing",
            auth="none",
            errors=(
                Code.PAYMENT_CHANNEL_UNKNOWN,
                Code.METHOD_NOT_ALLOWED,
                Code.BODY_TOO_LARGE,
                Code.PAYMENT_CHANNEL_NOT_CONFIGURED,
                Code.PAYMENT_NOTICE_REFUSED,
                Code.PAYMENT_NOTICE_MALFORMED,
                Code.PAYMENT_NOTICE_ORDER_MISMATCH,
                Code.PAYMENT_NOTICE_NOT_PROCESSED,
                Code.PAYMENT_NOTICES_RATE_LIMITED,
            ),
        ),
    ),
]
