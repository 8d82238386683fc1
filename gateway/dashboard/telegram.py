"""Approvals in Telegram: the chats the viewer linked to this merchant, and a one-time code
to link another (``telegram.bot.link_code``: the person sends the bot ``/start <code>``). Only
a member who may decide top-ups makes a code: a linked chat gets held sends' buttons."""

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..operations import perform
from ..services import services
from ..telegram import bot
from .context import Viewer, require_viewer
from .csrf import form
from .render import page

__all__ = ["routes"]


async def _chats(request: Request, viewer: Viewer) -> list[int]:
    svc = services(request)
    found = await perform(svc.waker, bot.chats_of(svc.db, viewer.merchant_id, viewer.user_id))
    return found.many(int)


def _configured(request: Request) -> bool:
    settings = services(request).settings
    return settings.telegram_bot_token is not None and settings.telegram_webhook_secret is not None


async def telegram_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    context = {"chats": await _chats(request, viewer), "configured": _configured(request)}
    return page(request, "topups/telegram.html", {**context, "code": None})


async def telegram_code(request: Request) -> Response:
    viewer = await require_viewer(request)
    await form(request)
    svc = services(request)
    code = None
    if _configured(request):
        made = bot.link_code(
            svc.db,
            svc.sealer,
            viewer.merchant_id,
            viewer.user_id,
            svc.settings.telegram_link_code_ttl_seconds,
        )
        code = (await perform(svc.waker, made)).one(bot.LinkCode)
    context = {"chats": await _chats(request, viewer), "configured": _configured(request)}
    return page(request, "topups/telegram.html", {**context, "code": code}, no_store=True)


routes: list[BaseRoute] = [
    Route("/telegram", telegram_page, methods=["GET"], name="telegram_page"),
    Route("/telegram/code", telegram_code, methods=["POST"], name="telegram_code"),
]
