"""The Wallet page's payer keys card: for each protocol whose payer signs with a key of the
merchant's (x402's EIP-3009 authorizations), the address the wallet pays sellers from, and the
forms to make a key, import one or remove it, through the operations the API's
``/payments/payer-keys`` calls (``sellers.payer_keys``), so the page adds no rule of its own.

Each form posts, acts and sends the browser back to the wallet (post, redirect, get), the
redirect's query naming which fixed sentence to show; the private key is never shown, not
even one the gateway made, and a refusal never repeats what was typed.
"""

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from ..operations import perform
from ..sellers.payer_keys import service as payer_keys
from ..sellers.payer_keys.schemas import MAX_PROTOCOL, PayerKeyData, PayerKeySet
from ..services import services
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.marking import marked
from .cards import Card
from .context import Viewer
from .inputs import field

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
_CARD = Card("wallet_page", "payer", _NOTICES, _REFUSALS, anchor="payer-keys")


async def context(request: Request, viewer: Viewer) -> dict[str, Any]:
    """What the card shows: each keyed protocol with its key's address (``None``: none set),
    and the sentence a redirect named."""
    svc = services(request)
    listed = await perform(svc.waker, payer_keys.listed(svc.db, viewer.caller))
    kept = {key.protocol: key for key in listed.many(PayerKeyData)}
    return {
        "payer_keys": [(p, kept.get(p)) for p in payer_keys.keyed_protocols()],
        "payer_notice": _CARD.notice(request),
    }


async def set_payer_key(request: Request, viewer: Viewer, data: FormData) -> str:
    """The API's POST: the private key typed, imported; none typed, a key made."""
    svc = services(request)
    given = field(data, "private_key", _MAX_KEY).strip() or None
    body = PayerKeySet(protocol=field(data, "protocol", MAX_PROTOCOL), private_key=given)
    await perform(svc.waker, payer_keys.set_key(svc.db, svc.sealer, viewer.caller, body, utcnow()))
    return "made" if given is None else "imported"


async def remove_payer_key(request: Request, viewer: Viewer, data: FormData) -> str:
    protocol: str = request.path_params["protocol"][:MAX_PROTOCOL]
    svc = services(request)
    await perform(svc.waker, payer_keys.remove(svc.db, viewer.caller, protocol))
    return "removed"  # or gone already (``PAYER_KEY_NOT_FOUND``): removed all the same


routes: list[BaseRoute] = [
    Route("/wallet/payer-keys", _CARD.posted(set_payer_key, invalid="invalid"), methods=["POST"]),
    Route("/wallet/payer-keys/{protocol}/remove", _CARD.posted(remove_payer_key), methods=["POST"]),
]
