"""The Telegram bot's webhook (``POST /telegram/webhook``): the Bot API posts each update here
(``setWebhook``, ``gateway.telegram.api``). Counted per client address first, then checked
against ``AITOPUP_TELEGRAM_WEBHOOK_SECRET`` in constant time (Telegram sends it back in
``X-Telegram-Bot-Api-Secret-Token``), then read (bounded) and parsed: only then does the bot
act (``telegram.bot``). A button's press decides through the dashboard's own decision
(``doors.decide``) as the approver the button was posted to, and only for the Telegram user
linked to them (``approval_links.spend``). Every answer of the bot is a row the worker sends:
the update is acknowledged with an empty envelope at once."""

import hmac

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ..client_limits import TELEGRAM_UPDATES
from ..operations import perform
from ..ops.routing import ApiRoute, RouteDoc
from ..services import services
from ..telegram import bot
from ..topup import approval_links, approvals, doors
from ..values.codes import Code
from ..values.envelope import ApiError, Envelope
from ..values.outcome import Outcome
from ..values.outside_json import loads
from ..values.parsing import read_capped

__all__ = ["routes"]

# An update the bot reads (a short message, a press) is far smaller; Telegram's own are too.
BODY_LIMIT = 64 * 1024
SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name)


def _secret_given(request: Request, expected: str) -> bool:
    given = request.headers.get(SECRET_HEADER, "")
    return hmac.compare_digest(given.encode(), expected.encode())


async def telegram_webhook(request: Request) -> Response:
    svc = services(request)
    await TELEGRAM_UPDATES.enforce(svc, request, Code.TELEGRAM_UPDATES_RATE_LIMITED)
    secret = svc.settings.telegram_webhook_secret
    if secret is None or svc.settings.telegram_bot_token is None:
        raise ApiError(Code.TELEGRAM_NOT_CONFIGURED)
    if not _secret_given(request, secret.get_secret_value()):
        raise ApiError(Code.TELEGRAM_SECRET_INVALID)
    body = await read_capped(request, BODY_LIMIT)
    try:
        update = bot.Update.model_validate(loads(body))
    except (ValueError, ValidationError):
        raise ApiError(Code.TELEGRAM_UPDATE_MALFORMED) from None
    if update.callback_query is not None:
        await _press(request, update.callback_query)
    elif update.message is not None:
        await perform(svc.waker, bot.on_message(svc.db, svc.sealer, update.message))
    return Envelope.of(Outcome(Code.SUCCESS))


async def _press(request: Request, press: bot.CallbackQuery) -> None:
    svc = services(request)
    found = bot.pressed(press.data)
    verdict: bot.Verdict = "nothing"
    status = None
    if found is not None:
        approve, token = found
        try:
            spent = await perform(
                svc.waker,
                approval_links.spend(svc.db, svc.sealer, token, telegram_user_id=press.from_.id),
            )
            link = spent.one(approval_links.Spent)
            decision = approvals.approve if approve else approvals.deny
            done = await doors.decide(svc, link.caller, decision, link.txn_id)
        except ApiError as refused:
            if refused.code not in (
                Code.APPROVAL_LINK_INVALID,
                Code.TOPUP_NOT_AWAITING_APPROVAL,
            ):
                raise
        else:
            verdict, status = ("approved" if approve else "denied"), done.status
    await perform(svc.waker, bot.answer_press(svc.db, svc.sealer, press, verdict, status))


routes = [
    ApiRoute(
        "/telegram/webhook",
        telegram_webhook,
        methods=["POST"],
        doc=RouteDoc(
            "The Telegram bot's updates, posted by the Bot API (setWebhook): checked against "
            "the webhook secret, then /start with a link code, /balance and the Approve and "
            "Deny buttons of held sends",
            "topup",
            auth="none",
            errors=(
                Code.TELEGRAM_UPDATES_RATE_LIMITED,
                Code.TELEGRAM_NOT_CONFIGURED,
                Code.TELEGRAM_SECRET_INVALID,
                Code.BODY_TOO_LARGE,
                Code.TELEGRAM_UPDATE_MALFORMED,
            ),
        ),
    ),
]
