"""The Telegram Bot API, as the bot calls it: ``POST {base}/bot{token}/{method}`` with a JSON
body, answered ``{"ok": true, "result": …}`` or ``{"ok": false, "description": …}``
(core.telegram.org/bots/api, "Making requests"). The base URL is a setting
(``AITOPUP_TELEGRAM_API_BASE_URL``), so tests speak to a stand-in on loopback.

Bounded as every outbound door is: a timeout, no redirects, the answer read in chunks up to
``RESPONSE_CAP``; what Telegram said reaches logs and rows in the product's words, and the
token, which is in the URL, never does.
"""

from typing import Any

import httpx

from ..values import outside_json
from ..values.settings import Settings
from ..values.tls import verifying
from ..webhooks.bodies import BodyTooLarge, read_capped

__all__ = ["RESPONSE_CAP", "WEBHOOK_PATH", "BotApiError", "call", "set_webhook", "webhook_url"]

RESPONSE_CAP = 16 * 1024
_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class BotApiError(Exception):
    """A call that did not succeed; its message names the method and never the token."""


async def call(settings: Settings, method: str, params: dict[str, Any]) -> Any:
    """``method`` with ``params``: its ``result``, else ``BotApiError``."""
    if settings.telegram_bot_token is None:
        raise BotApiError("AITOPUP_TELEGRAM_BOT_TOKEN is not set")
    token = settings.telegram_bot_token.get_secret_value()
    url = f"{settings.telegram_api_base_url.rstrip('/')}/bot{token}/{method}"
    try:
        async with (
            httpx.AsyncClient(timeout=_TIMEOUT, follow_redirects=False, verify=verifying()) as http,
            http.stream("POST", url, json=params) as response,
        ):
            body = await read_capped(response, RESPONSE_CAP, whole=True)
            status = response.status_code
    except (httpx.HTTPError, BodyTooLarge) as exc:
        raise BotApiError(f"{method}: {type(exc).__name__}") from None
    try:
        answer = outside_json.loads(body)
    except ValueError:
        raise BotApiError(f"{method}: HTTP {status}, not JSON") from None
    if not isinstance(answer, dict) or answer.get("ok") is not True:
        raise BotApiError(f"{method}: HTTP {status}, not ok")
    return answer.get("result")


# The public API's door for the bot's updates (``gateway.api.telegram``).
WEBHOOK_PATH = "/api/public/v1/telegram/webhook"


def webhook_url(public_base: str) -> str:
    """Where Telegram posts the bot's updates."""
    return public_base.rstrip("/") + WEBHOOK_PATH


async def set_webhook(settings: Settings, public_base: str) -> None:
    """Point Telegram at this gateway's webhook with the secret it must send back on every
    update (``X-Telegram-Bot-Api-Secret-Token``), for the updates the bot reads."""
    if settings.telegram_webhook_secret is None:
        raise BotApiError("AITOPUP_TELEGRAM_WEBHOOK_SECRET is not set")
    await call(
        settings,
        "setWebhook",
        {
            "url": webhook_url(public_base),
            "secret_token": settings.telegram_webhook_secret.get_secret_value(),
            "allowed_updates": ["message", "callback_query"],
        },
    )
