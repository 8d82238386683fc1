"""The kill switch in the dashboard: whether the environment of the switch is frozen, the form
that freezes it (held sends kept or cancelled), for a member who manages keys, and the one that
undoes it, for an owner alone (``freezes.hands``). The same operations as ``POST /freeze`` and
``DELETE /freeze``, the member named as who."""

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..freezes import hands
from ..freezes import service as freezes
from ..freezes.schemas import FreezeData, FreezeRequest
from ..operations import perform
from ..services import services
from .context import Viewer, require_viewer
from .csrf import FormRefused, form
from .paths import path_for
from .render import page

__all__ = ["routes"]


def _freezer(viewer: Viewer) -> freezes.Freezer:
    return freezes.Freezer(viewer.merchant_id, viewer.env, f"user {viewer.email}")


async def freeze_page(request: Request) -> Response:
    viewer = await require_viewer(request)
    svc = services(request)
    state = (await perform(svc.waker, freezes.state(svc.db, _freezer(viewer)))).one(FreezeData)
    return page(request, "freeze/index.html", {"state": state})


async def freeze_on(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    held = data.get("held", "keep")
    if held not in ("keep", "cancel"):
        raise FormRefused(422, "Choose whether held sends are kept or cancelled.")
    svc = services(request)
    asked = FreezeRequest(held="cancel" if held == "cancel" else "keep")
    frozen = freezes.freeze(svc.db, svc.sealer, _freezer(viewer), asked)
    done = await perform(svc.waker, frozen)
    cancelled = done.one(FreezeData).held_cancelled
    return RedirectResponse(f"{path_for('freeze_page')}?done=frozen&cancelled={cancelled}", 303)


async def freeze_off(request: Request) -> Response:
    viewer = await require_viewer(request)
    await form(request)
    svc = services(request)
    hand = hands.member(viewer.role)
    await perform(svc.waker, freezes.unfreeze(svc.db, svc.sealer, _freezer(viewer), hand))
    return RedirectResponse(path_for("freeze_page") + "?done=unfrozen", status_code=303)


routes: list[BaseRoute] = [
    Route("/freeze", freeze_page, methods=["GET"], name="freeze_page"),
    Route("/freeze", freeze_on, methods=["POST"], name="freeze_on"),
    Route("/freeze/off", freeze_off, methods=["POST"], name="freeze_off"),
]
