"""The Telegram bot's webhook (``POST /telegram/webhook``): the Bot API posts each update here
(``setWebhook``, ``gateway.telegram.api``). Checked first against
``AITOPUP_TELEGRAM_WEBHOOK_SECRET`` in constant time (Telegram sends it back in
``X-Telegram-Bot-Api-Secret-Token``), then read (bounded) and parsed, then counted per chat and per
Telegram user (``AITOPUP_TELEGRAM_UPDATES_PER_CHAT_PER_MINUTE``): only then does the bot act
(``telegram.bot``). Nothing is counted before the secret: a post without it costs one comparison and
counts in no bucket, so neither forgers nor strangers' chats, all posted from Telegram's few
addresses, use up a genuine approver's updates. A button's press decides a held send or payment
through the dashboard's own decision (``holds.doors.decide``) as the approver the button was
posted to, and only for the Telegram user linked to them (``approvals.links.ready``); the button's
token is spent by that decision alone. Every answer of the bot is a row the worker sends: the update
is acknowledged with an empty envelope at once."""

import hmac
import logging

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ..approvals.held import Hold
from ..holds import doors, registry
from ..operations import perform
from ..ops.routing import ApiRoute, RouteDoc
from ..ratelimit import Limit, LimiterUnavailable, hit_all, unavailable
from ..services import services
from ..telegram import bot
from ..values.code_names import Code
from ..values.envelope import Envelope
from ..values.outcome import ApiError, Outcome
from ..values.outside_json import loads
from ..values.parsing import read_capped

__all__ = ["routes"]

log = logging.getLogger(__name__)

# An update the bot reads (a short message, a press) is far smaller; Telegram's own are too.
BODY_LIMIT = 64 * 1024
SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 (a header name)


def _secret_given(request: Request, expected: str) -> bool:
    given = request.headers.get(SECRET_HEADER, "")
    return hmac.compare_digest(given.encode(), expected.encode())


def _senders(update: bot.Update) -> list[str]:
    """The buckets an update counts in: its chat's and its Telegram user's."""
    found: list[str] = []
    if update.callback_query is not None:
        found.append(f"user:{update.callback_query.from_.id}")
        if update.callback_query.message is not None:
            found.append(f"chat:{update.callback_query.message.chat.id}")
    elif update.message is not None:
        found.append(f"chat:{update.message.chat.id}")
        if update.message.from_ is not None:
            found.append(f"user:{update.message.from_.id}")
    return found


async def _count(request: Request, update: bot.Update) -> None:
    """Count ``update`` in its chat's and its user's buckets: 429 past either, counted in
    neither then (a user past their minute takes nothing from a group's chat), 503 when Redis
    cannot count (closed: Telegram retries an update it could not deliver, so a refusal loses
    nothing, and each update may write rows)."""
    svc = services(request)
    per_minute = svc.settings.telegram_updates_per_chat_per_minute
    limits = [Limit(f"telegram-updates:{each}", per_minute, 60) for each in _senders(update)]
    if not limits:
        return
    try:
        decisions = await hit_all(
            svc.redis,
            limits,
            closed=True,
            whole=True,
            answer_within=svc.settings.redis_answer_seconds,
        )
    except LimiterUnavailable as exc:
        log.warning("rate limiter unavailable, refusing a Telegram update: %s", exc)
        raise unavailable() from None
    for decision in decisions:
        if not decision.allowed:
            raise ApiError(
                Code.TELEGRAM_UPDATES_RATE_LIMITED,
                data=decision.data(),
                headers=decision.headers(),
            )


async def telegram_webhook(request: Request) -> Response:
    svc = services(request)
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
    await _count(request, update)
    if update.callback_query is not None:
        await _press(request, update.callback_query)
    elif update.message is not None:
        await perform(svc.waker, bot.on_message(svc.db, svc.sealer, update.message, svc.languages))
    return Envelope.of(Outcome(Code.SUCCESS))


async def _press(request: Request, press: bot.CallbackQuery) -> None:
    svc = services(request)
    found = bot.pressed(press.data)
    verdict: bot.Verdict = "nothing"
    status = None
    hold: Hold | None = None
    if found is not None:
        approve, token = found
        try:
            done = await doors.decide(svc, token, approve, telegram_user_id=press.from_.id)
        except ApiError as refused:
            if refused.code == Code.ENVIRONMENT_FROZEN:
                verdict = "frozen"
            elif refused.code not in {Code.APPROVAL_TOKEN_WRONG_DOOR, *registry.gone()}:
                raise
        else:
            verdict, status = ("approved" if approve else "denied"), done.status
            hold = registry.holding(done.transaction_id or "")
    answering = bot.answer_press(
        svc.db,
        svc.sealer,
        press,
        verdict,
        status,
        approved=None if hold is None else hold.approved_words,
        decided=() if hold is None else hold.decided,
        catalogues=svc.languages,
    )
    await perform(svc.waker, answering)


routes = [
    ApiRoute(
        "/telegram/webhook",
        telegram_webhook,
        methods=["POST"],
        doc=RouteDoc(
            "The Telegram bot's updates, posted by the Bot API (setWebhook): checked against "
            "the webhook secret, then counted per chat and per user, then /start with a link "
            "code, /balance and the Approve and Deny buttons of held sends and payments",
            "topup",
            auth="none",
            errors=(
                Code.TELEGRAM_NOT_CONFIGURED,
                Code.TELEGRAM_SECRET_INVALID,
                Code.BODY_TOO_LARGE,
                Code.TELEGRAM_UPDATE_MALFORMED,
                Code.TELEGRAM_UPDATES_RATE_LIMITED,
            ),
        ),
    ),
]
