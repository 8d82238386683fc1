"""The OAuth consent page: a signed-in person lets an app act for a merchant they belong to.

The authorization endpoint (``gateway.oauth``) checked the request and sealed it in the link
(``apps.pending``). The page shows the app (name, homepage, whether its owner is known), and
asks for the merchant (when the person belongs to several), the environment, the scopes (never
more than the app asked for and the person's role may give there: ``apps.grants.grantable``)
and a spend policy, the same form as a key's. It ticks only the scopes the app registered and
this request asks (``apps.grants.preticked``: for an unverified app, never one that approves),
says what each lets the app do and whom a charge pays, and fills in an unverified app's daily
limit with the merchant's default (which ``approve`` applies too where it is left empty).
Approving makes the consent (``apps.grants
.approve``, which refuses anything beyond those bounds whatever the form said) and sends the
person back to the app's redirect URI with the code; denying sends them back with
``access_denied``; either answer names the issuer (``iss``: ``apps.pending.answer_url``). An
app with no redirect of its own registers the code display page (``CODE_PAGE_PATH``,
absolute) as its redirect URI: the answer is then that page, showing the code for the person
to copy into the app, and the code never travels in a URL. The page is
never framed (``SecurityHeaders``: ``frame-ancestors 'none'``) and its form carries the CSRF
token, as every form does.
"""

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from keys import Env

from ..accounts import members
from ..apps import grants, registry
from ..apps.pending import CODE_PAGE_PATH, CONSENT_PATH, Asked, answer_url, issuer, pending_request
from ..merchant_limits import count_consent
from ..merchants import preferences
from ..operations import perform
from ..policies.model import CALENDAR, Policy
from ..services import services
from ..values.marking import marked
from ..values.outcome import ApiError
from ..values.platforms import PLATFORMS
from ..values.public_base import public_base
from . import policy_form
from .context import require_viewer
from .csrf import form
from .inputs import problem
from .paths import PREFIX
from .policy_form import dollars
from .render import page, reading

__all__ = ["routes"]

_PATH = CONSENT_PATH.removeprefix(PREFIX)
_CODE_PATH = CODE_PAGE_PATH.removeprefix(PREFIX)
_ENVS = ("staging", "live")


def _back(request: Request, app: registry.App, pending: grants.Pending, **params: str) -> Response:
    """The app's redirect URI (checked exactly by the authorization endpoint) with ``params``,
    or, where that URI is the code display page, the page itself."""
    if pending.state is not None:
        params["state"] = pending.state
    settings = services(request).settings
    if pending.redirect_uri == public_base(settings) + CODE_PAGE_PATH:
        minutes = int(grants.CODE_TTL.total_seconds() // 60)
        shown = {"app": app, "minutes": minutes, **params}
        return page(request, "consent/code.html", shown, no_store=True)
    to = answer_url(pending.redirect_uri, issuer(settings), params)
    return RedirectResponse(to, status_code=303)


async def _request(request: Request, sealed: str) -> tuple[grants.Pending, registry.App] | None:
    svc = services(request)
    found = (await perform(svc.waker, pending_request(svc.db, svc.sealer, sealed))).data
    return (found.pending, found.app) if isinstance(found, Asked) else None


async def _places(request: Request, user_id: str) -> list[members.Membership]:
    svc = services(request)
    found = await perform(svc.waker, members.memberships(svc.db, user_id))
    return found.many(members.Membership)


async def _settings(request: Request, merchant_id: str) -> preferences.MerchantSettings | None:
    svc = services(request)
    found = (await perform(svc.waker, preferences.get_settings(svc.db, merchant_id))).data
    return found if isinstance(found, preferences.MerchantSettings) else None


async def _unverified_daily(request: Request, merchant_id: str) -> int:
    """The daily limit a consent of ``merchant_id`` to an unverified app gets by default: what
    the page fills in (``grants.approve`` applies the same where the field is left empty)."""
    svc = services(request)
    default = svc.settings.unverified_app_daily_cents
    read = preferences.unverified_app_budget(svc.db, merchant_id, default)
    return (await perform(svc.waker, read)).one(int)


# What each scope lets an app do, in words (the consent page's list and its boxes).
_SCOPE_WORDS = {
    "topup:send": marked("send top-ups from this wallet to anyone, within the limits below"),
    "topup:read": marked("read this wallet's balance and its top-ups"),
    "approvals": marked("approve or deny sends held for approval by this merchant's keys and apps"),
    "keys:manage": marked(
        "make one API key of its own for this wallet, read it and replace it, with no more "
        "than you give here; it is revoked when you revoke this app"
    ),
    "payments:send": marked(
        "pay sellers' HTTP 402 payment requests from this wallet, to any seller unless the "
        "policy names its payees, within the limits below"
    ),
}
_BILLING_PAID = marked(
    "charge fees to this wallet, payable to %(payee)s, the merchant who registered the app"
)
_BILLING_UNPAID = marked(
    "charge fees to this wallet; no merchant registered this app, so no charge of it can be "
    "paid and each is refused"
)


async def _scope_words(request: Request, app: registry.App) -> dict[str, str]:
    """What each scope lets the app do, in the reader's words; ``billing`` names whom a charge
    pays."""
    payee = None if app.merchant_id is None else await _settings(request, app.merchant_id)
    _ = reading(request).gettext
    billing = _(_BILLING_UNPAID)
    if payee is not None:
        billing = _(_BILLING_PAID) % {"payee": payee.shown_name}
    return {**{scope: _(words) for scope, words in _SCOPE_WORDS.items()}, "billing": billing}


def _choices(
    app: registry.App, pending: grants.Pending, places: list[members.Membership]
) -> dict[str, Any]:
    """Per merchant and environment, what the person may give the app there."""
    asked = set(pending.scopes)
    return {
        "places": [
            {
                "merchant_id": p.merchant_id,
                "merchant_name": p.merchant_name,
                "role": p.role,
                "scopes": {
                    env: sorted(s for s in grants.grantable(app, p.role, env) if s in asked)
                    for env in _ENVS
                },
            }
            for p in places
        ],
        # An app nobody vouches for is never offered what only a vouched-for one may hold.
        "all_scopes": [
            s
            for s in app.scopes
            if s in asked and (app.verified or s not in grants.VOUCHED_FOR_ONLY)
        ],
        "all_platforms": PLATFORMS,
        "intervals": CALENDAR,
        "field_names": policy_form.FIELDS,
        "interval_words": policy_form.INTERVAL_WORDS,
        "can_reveal": False,
    }


async def _page(
    request: Request,
    sealed: str,
    found: tuple[grants.Pending, registry.App],
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    viewer = await require_viewer(request)
    pending, app = found
    places = await _places(request, viewer.user_id)
    chosen = values.get("merchant_id")
    if chosen not in {p.merchant_id for p in places}:
        chosen = viewer.merchant_id
    return page(
        request,
        "consent/index.html",
        {
            "app": app,
            "sealed": sealed,
            "values": values,
            "errors": errors,
            "chosen_merchant": values.get("merchant_id", viewer.merchant_id),
            "chosen_env": values.get("env", "staging"),
            "scope_words": await _scope_words(request, app),
            "unverified_daily": dollars(await _unverified_daily(request, str(chosen))),
            **_choices(app, pending, places),
        },
        status=status,
        no_store=True,
    )


async def consent_page(request: Request) -> Response:
    sealed = request.query_params.get("request", "")
    found = await _request(request, sealed)
    if found is None:
        return page(request, "consent/expired.html", {}, status=400, no_store=True)
    viewer = await require_viewer(request)
    pending, app = found
    values = policy_form.to_form(Policy(scopes=()))
    values["scopes"] = grants.preticked(app, pending.scopes)
    if not app.verified:
        values["limit_daily"] = dollars(await _unverified_daily(request, viewer.merchant_id))
    return await _page(request, sealed, found, values, {})


async def consent(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    sealed = str(data.get("request", ""))
    found = await _request(request, sealed)
    if found is None:
        return page(request, "consent/expired.html", {}, status=400, no_store=True)
    pending, app = found
    if data.get("decision") != "approve":
        return _back(request, app, pending, error="access_denied")
    svc = services(request)
    await count_consent(svc, viewer.user_id)  # its refusal is the dashboard's error page
    places = {p.merchant_id: p for p in await _places(request, viewer.user_id)}
    place = places.get(str(data.get("merchant_id", "")))
    env: Env = "live" if data.get("env") == "live" else "staging"
    values = {**policy_form.echo(data), "merchant_id": data.get("merchant_id"), "env": env}
    if place is None:
        return await _page(request, sealed, found, values, {"": "Choose a merchant of yours."}, 422)
    try:
        _, policy = policy_form.from_form(data)
    except policy_form.PolicyFormError as refused:
        return await _page(request, sealed, found, values, refused.errors, 422)
    try:
        approved = grants.approve(
            svc.db,
            app=app,
            pending=pending,
            user_id=viewer.user_id,
            merchant_id=place.merchant_id,
            env=env,
            policy=policy,
            pepper=svc.settings.key_pepper.get_secret_value().encode(),
            cap=svc.settings.max_consents_per_merchant_env,
            unverified_daily_cents=svc.settings.unverified_app_daily_cents,
        )
        code = (await perform(svc.waker, approved)).one(str)
    except ApiError as refused:
        status, message = problem(refused)
        return await _page(request, sealed, found, values, {"scopes": message}, status)
    return _back(request, app, pending, code=code)


async def code_page(request: Request) -> Response:
    """The code display page reached by itself: what it is for. A code is shown only in the
    answer to a consent, never read back from a query string."""
    await require_viewer(request)
    return page(request, "consent/code.html", {}, no_store=True)


routes: list[BaseRoute] = [
    Route(_PATH, consent_page, methods=["GET"], name="oauth_consent"),
    Route(_PATH, consent, methods=["POST"], name="oauth_consent_form"),
    Route(_CODE_PATH, code_page, methods=["GET"], name="oauth_code"),
]
