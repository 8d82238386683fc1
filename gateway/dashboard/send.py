"""Send from the dashboard: a form (the key it acts as, platform, amount in dollars, recipient,
an optional note) that runs the API's own send (``topup.doors.send``) as that key, under the
key's policy (its scopes, limits, platforms and approval line), and shows the reply's envelope
as the API would have answered it.

A top-up is always some key's (``topups.api_key_id``): the member picks one of the merchant's
keys in this environment that may send, and a send the key could not make through the API is
refused here alike. Each rendering of the form carries an idempotency key of its own, so a
form posted twice (a double click, a reload) makes one top-up and shows the same reply."""

import json
import re
import secrets
from dataclasses import replace
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import idempotency
from ..accounts import roles
from ..callers import Caller, of_key
from ..merchants import keys as key_service
from ..merchants.schemas import KeyData
from ..operations import perform
from ..services import services
from ..topup import doors
from ..topup.schemas import SendRequest
from ..values.code_names import Code
from ..values.envelope import Envelope, error_response
from ..values.marking import marked
from ..values.outcome import ApiError
from ..values.platforms import PLATFORMS
from . import policy_form
from .context import Viewer, require_viewer
from .csrf import form
from .inputs import ENTER_DOLLARS, FORM, FormErrors, dollars_to_cents, field
from .keys import make_key
from .paths import path_for
from .render import page, reading

__all__ = ["routes"]

_KEY_ID = re.compile(r"key_[0-9a-z]{24}")
_NOTE_MAX = 500  # a metadata value's own bound
_KEYS_LISTED = 100
# The key made in place for a merchant that has none that may send: named, in the words of the
# member who made it, so the Keys page says where it came from; its value is never shown (the
# form needs only its id).
_SENDER_NAME = marked("Dashboard sends")
# Refusals of the send itself (the form was right): what the member does is elsewhere.
_FROZEN = (Code.ENVIRONMENT_FROZEN, Code.BUDGET_FROZEN)
LABELS = {
    "key_id": marked("Send as key"),
    "platform": marked("Platform"),
    "amount": marked("Amount (USD)"),
    "recipient_email": marked("Recipient's e-mail"),
    "note": marked("Note (optional)"),
}


async def _senders(request: Request, viewer: Viewer) -> list[KeyData]:
    """The merchant's keys in this environment that may send: not revoked, ``topup:send``."""
    svc = services(request)
    actor = key_service.by_role(
        viewer.merchant_id,
        viewer.env,
        roles.grantable_scopes(viewer.role, viewer.env),
        roles.reveals_codes(viewer.role, viewer.env),
        "",
    )
    listed = key_service.list_keys(svc.db, svc.redis, actor, limit=_KEYS_LISTED, cursor=None)
    keys = (await perform(svc.waker, listed)).many(KeyData)
    return [k for k in keys if k.revoked_at is None and k.policy.allows("topup:send")]


def _blank() -> dict[str, Any]:
    return {"key_id": "", "platform": "", "amount": "", "recipient_email": "", "note": ""}


async def _page(
    request: Request,
    viewer: Viewer,
    *,
    typed: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    reply: tuple[int, dict[str, Any]] | None = None,
    status: int = 200,
) -> Response:
    # A refusal the form cannot correct (a freeze, funds, the key's limits) is the send's: said
    # as such, with the page that lifts a freeze linked, never "Please correct".
    code = None if reply is None else reply[1].get("code")
    refused = (errors or {}).get(FORM) if code is not None and not 3000 <= code < 4000 else None
    context = {
        "refusal": refused,
        "frozen": code in _FROZEN,
        "senders": await _senders(request, viewer),
        "platforms": PLATFORMS,
        "typed": typed or _blank(),
        "errors": errors or {},
        "labels": LABELS,
        # A new key for each rendering: a form posted twice is one send.
        "attempt": secrets.token_urlsafe(18),
        "reply": None if reply is None else reply[1],
        "reply_json": None if reply is None else json.dumps(reply[1], indent=2),
        "reply_status": None if reply is None else reply[0],
    }
    return page(request, "send/index.html", context, status=status, no_store=True)


async def send_page(request: Request) -> Response:
    picked = request.query_params.get("key", "")
    typed = {**_blank(), "key_id": picked} if _KEY_ID.fullmatch(picked) else None
    return await _page(request, await require_viewer(request), typed=typed)


def _shown(envelope: Envelope) -> tuple[int, dict[str, Any]]:
    """The reply as the API's body and status."""
    body: dict[str, Any] = json.loads(bytes(envelope.body))
    return envelope.status_code, body


async def _caller(request: Request, viewer: Viewer, key_id: str) -> Caller:
    """The picked key's caller, hiding codes if the member's role does."""
    if not _KEY_ID.fullmatch(key_id):
        raise ApiError(Code.VALIDATION_FAILED, "Pick a key to send as.")
    caller = await of_key(services(request).db, viewer.merchant_id, viewer.env, key_id)
    hides = caller.hides_every_code or viewer.caller.hides_every_code
    return replace(caller, hides_every_code=hides)


async def send(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    typed = {name: field(data, name, 320).strip() for name in LABELS}
    svc = services(request)
    refused = FormErrors()
    try:
        attempt = idempotency.parse_key(field(data, "attempt", 255) or None)
        caller = await _caller(request, viewer, typed["key_id"])
        if not typed["amount"]:
            raise ApiError(Code.VALIDATION_FAILED, ENTER_DOLLARS)
        note = typed["note"]
        body = SendRequest.model_validate(
            {
                "platform": typed["platform"],
                "amount_cents": dollars_to_cents(typed["amount"]),
                "recipient_email": typed["recipient_email"],
                "metadata": {"note": note[:_NOTE_MAX]} if note else None,
            },
            context={"max_topup_cents": svc.settings.max_topup_cents},
        )
        outcome = await doors.send(svc, caller, body, attempt)
    except ValidationError as exc:
        fields = {"platform": "platform", "amount_cents": "amount"}
        refused.add(
            exc, fields={**fields, "recipient_email": "recipient_email", "metadata": "note"}
        )
        return await _page(
            request, viewer, typed=typed, errors=refused.errors, status=refused.status
        )
    except ApiError as exc:
        where = "key_id" if exc.code in (Code.AUTH_UNKNOWN, Code.AUTH_REVOKED) else FORM
        refused.add(exc, where)
        shown = _shown(error_response(exc)) if where == FORM else None
        response = await _page(
            request, viewer, typed=typed, errors=refused.errors, reply=shown, status=refused.status
        )
        response.headers.update(refused.headers)
        return response
    reply = _shown(Envelope.of(outcome))
    if reply[0] >= 400:  # a refusal the send answers rather than raises (a key's limit)
        errors = {FORM: str(reply[1].get("message", ""))}
        return await _page(
            request, viewer, typed=typed, errors=errors, reply=reply, status=reply[0]
        )
    kept = {**_blank(), "key_id": typed["key_id"], "platform": typed["platform"]}
    return await _page(request, viewer, typed=kept, reply=reply, status=reply[0])


async def make_sender(request: Request) -> Response:
    """A key that may send, made from the Send page where the merchant has none, as the Keys
    page makes one (the same service, policy and cap); back to the form, the key picked."""
    viewer = await require_viewer(request)
    await form(request)
    _, policy = policy_form.from_form(FormData([("scopes", "topup:send")]))
    try:
        made = await make_key(request, viewer, reading(request).gettext(_SENDER_NAME), policy)
    except ApiError as exc:  # the cap of keys: said on the form
        refused = FormErrors()
        refused.add(exc, FORM)
        return await _page(request, viewer, errors=refused.errors, status=refused.status)
    return RedirectResponse(f"{path_for('send_page')}?key={made.id}", status_code=303)


routes: list[BaseRoute] = [
    Route("/topups/send", send_page, methods=["GET"]),
    Route("/topups/send", send, methods=["POST"]),
    Route("/topups/send/key", make_sender, methods=["POST"]),
]
