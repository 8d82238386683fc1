"""The Wallet page's payer keys card: for each protocol whose payer signs with a key of the
merchant's (x402's EIP-3009 authorizations), the address the wallet pays sellers from, and the
forms to make a key, import one or remove it, through the operations the API's
``/payments/payer-keys`` calls (``protocols.payer_keys``), so the page adds no rule of its own.

Each form posts, acts and sends the browser back to the wallet (post, redirect, get), the
redirect's query naming which fixed sentence to show; the private key is never shown, not
even one the gateway made, and a refusal never repeats what was typed.
"""

from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..operations import perform
from ..protocols.payer_keys import service as payer_keys
from ..protocols.payer_keys.schemas import MAX_PROTOCOL, PayerKeyData, PayerKeySet
from ..services import services
from ..values.clock import utcnow
from ..values.codes import Code
from ..values.languages import marked
from ..values.outcome import ApiError
from .context import Viewer, require_viewer
from .csrf import form
from .inputs import field
from .paths import path_for

__all__ = ["context", "routes"]

_NOTICES = {
    "made": marked("Payer key made: fund its address on chain. Its private key is never shown."),
    "imported": marked("Payer key imported. It is kept sealed and never shown again."),
    "removed": marked("Payer key removed. What its address holds stays there."),
    "invalid": marked("That is not a private key: 32 bytes in hex (0x and 64 hex digits)."),
    "exists": marked("A payer key is set already: remove it first."),
}
_REFUSALS = {
    Code.VALIDATION_FAILED: "invalid",
    Code.PAYER_KEY_EXISTS: "exists",
    Code.PAYER_KEY_NOT_FOUND: "removed",
}
_MAX_KEY = 200


async def context(request: Request, viewer: Viewer) -> dict[str, Any]:
    """What the card shows: each keyed protocol with its key's address (``None``: none set),
    and the sentence a redirect named."""
    svc = services(request)
    listed = await perform(svc.waker, payer_keys.listed(svc.db, viewer.caller))
    kept = {key.protocol: key for key in listed.many(PayerKeyData)}
    return {
        "payer_keys": [(p, kept.get(p)) for p in payer_keys.keyed_protocols()],
        "payer_notice": _NOTICES.get(request.query_params.get("payer", "")),
    }


def _back(notice: str) -> RedirectResponse:
    return RedirectResponse(f"{path_for('wallet_page')}?payer={notice}#payer-keys", 303)


async def set_payer_key(request: Request) -> Response:
    """The API's POST: the private key typed, imported; none typed, a key made."""
    viewer = await require_viewer(request)
    data = await form(request)
    svc = services(request)
    given = field(data, "private_key", _MAX_KEY).strip() or None
    try:
        body = PayerKeySet(protocol=field(data, "protocol", MAX_PROTOCOL), private_key=given)
        setting = payer_keys.set_key(svc.db, svc.sealer, viewer.caller, body, utcnow())
        await perform(svc.waker, setting)
    except ApiError as exc:
        if exc.code not in _REFUSALS:
            raise
        return _back(_REFUSALS[exc.code])
    except ValidationError:
        return _back("invalid")
    return _back("made" if given is None else "imported")


async def remove_payer_key(request: Request) -> Response:
    viewer = await require_viewer(request)
    await form(request)
    protocol: str = request.path_params["protocol"][:MAX_PROTOCOL]
    svc = services(request)
    try:
        await perform(svc.waker, payer_keys.remove(svc.db, viewer.caller, protocol))
    except ApiError as exc:
        if exc.code != Code.PAYER_KEY_NOT_FOUND:
            raise
    return _back("removed")


routes: list[BaseRoute] = [
    Route("/wallet/payer-keys", set_payer_key, methods=["POST"]),
    Route("/wallet/payer-keys/{protocol}/remove", remove_payer_key, methods=["POST"]),
]
