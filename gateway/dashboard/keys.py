"""Keys: make one with a policy (the raw key shown once, on a page never cached), list them by
display prefix with name and last use, change a key's policy, revoke one. Every change goes
through ``merchants.keys``, the one definition the API and the admin API use too; the viewer
acts as an actor of their merchant and environment that gives what their role may
(``accounts.roles.grantable_scopes``, and the code's reveal only where the role sees codes):
the form offers only that, and the service refuses anything else (``ROLE_SCOPE_NOT_GRANTABLE``).
"""

import re
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..accounts import roles
from ..budgets import service as budget_service
from ..budgets.schemas import BudgetData
from ..merchants import keys as key_service
from ..merchants import policy_templates
from ..merchants.schemas import KeyCreated, KeyData
from ..merchants.template_schemas import TemplateData
from ..operations import perform
from ..policies.model import CALENDAR, KEY_SCOPES, Policy
from ..services import services
from ..values.platforms import PLATFORMS
from . import policy_form, reveal
from .context import Viewer, require_viewer
from .csrf import form
from .paths import path_for
from .render import page

__all__ = ["actor_of", "choices", "routes"]

_KEY_ID = re.compile(r"key_[0-9a-z]{24}")
_LIST_LIMIT = 100


def _key_id(request: Request) -> str:
    found: str = request.path_params["key_id"]
    if not _KEY_ID.fullmatch(found):
        raise HTTPException(404)
    return found


def actor_of(viewer: Viewer) -> key_service.Actor:
    return key_service.by_role(
        viewer.merchant_id,
        viewer.env,
        roles.grantable_scopes(viewer.role, viewer.env),
        roles.reveals_codes(viewer.role, viewer.env),
        f"As a {viewer.role} you cannot give a key this in {viewer.env}: a key does no more "
        "than you may. Ask an owner of this merchant.",
        viewer.user_id,
    )


async def make_key(
    request: Request, viewer: Viewer, name: str | None, policy: Policy
) -> KeyCreated:
    """A key made by the viewer on the dashboard (the Keys page, the Send page's offer): the
    keys' one service, under the merchant's cap of keys (``ApiError`` past it)."""
    svc = services(request)
    operation = key_service.create_key(
        svc.db,
        actor_of(viewer),
        name=name,
        policy=policy,
        pepper=svc.settings.key_pepper.get_secret_value().encode(),
        cap=svc.settings.max_keys_per_merchant_env,
    )
    return (await perform(svc.waker, operation)).one(KeyCreated)


def choices(viewer: Viewer, key: KeyData | None = None) -> dict[str, Any]:
    """What the form offers: what the viewer's role may give, and what the key holds already
    (it keeps that, whoever saves it)."""
    grantable = roles.grantable_scopes(viewer.role, viewer.env)
    held = key.policy.scopes if key is not None else ()
    return {
        "all_scopes": tuple(s for s in KEY_SCOPES if s in grantable or s in held),
        "can_reveal": roles.reveals_codes(viewer.role, viewer.env)
        or (key is not None and key.policy.reveal_voucher),
        "all_platforms": PLATFORMS,
        "intervals": CALENDAR,
        "field_names": policy_form.FIELDS,
        "interval_words": policy_form.INTERVAL_WORDS,
        "scope_words": policy_form.KEY_SCOPE_WORDS,
    }


async def _templates(request: Request, viewer: Viewer) -> list[TemplateData]:
    """The environment's policy templates, for the form's choice of one."""
    svc = services(request)
    listed = policy_templates.list_templates(
        svc.db, actor_of(viewer), limit=policy_templates.MAX_TEMPLATES, cursor=None
    )
    return (await perform(svc.waker, listed)).many(TemplateData)


async def _budgets(request: Request, viewer: Viewer) -> list[BudgetData]:
    """The environment's budgets, which the policy form offers to draw on."""
    svc = services(request)
    owner = budget_service.Owner(viewer.merchant_id, viewer.env)
    return (await perform(svc.waker, budget_service.list_budgets(svc.db, owner))).many(BudgetData)


async def _list_page(
    request: Request, viewer: Viewer, values: dict[str, Any], errors: dict[str, str], status: int
) -> Response:
    svc = services(request)
    listed = key_service.list_keys(
        svc.db, svc.redis, actor_of(viewer), limit=_LIST_LIMIT, cursor=None
    )
    keys = (await perform(svc.waker, listed)).many(KeyData)
    return page(
        request,
        "keys/index.html",
        {
            "keys": keys,
            "values": values,
            "errors": errors,
            "templates": await _templates(request, viewer),
            "all_budgets": await _budgets(request, viewer),
            **choices(viewer),
        },
        status=status,
    )


async def list_keys(request: Request) -> Response:
    viewer = await require_viewer(request)
    return await _list_page(request, viewer, policy_form.to_form(None), {}, 200)


async def create_key(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    try:
        name, policy = policy_form.from_form(data)
    except policy_form.PolicyFormError as refused:
        return await _list_page(request, viewer, policy_form.echo(data), refused.errors, 422)
    made = await make_key(request, viewer, name, policy)
    # Post/redirect/get: the key's page is a GET that shows it once (``reveal``).
    token = await reveal.stash(request, made.model_dump_json())
    if token is None:
        return page(request, "keys/created.html", {"key": made}, status=201, no_store=True)
    return RedirectResponse(path_for("created_key") + f"?t={token}", status_code=303)


async def created_key(request: Request) -> Response:
    await require_viewer(request)
    shown = await reveal.take(request)
    if shown is None:
        return RedirectResponse(path_for("list_keys") + "?notice=shown", status_code=303)
    made = KeyCreated.model_validate_json(shown)
    return page(request, "keys/created.html", {"key": made}, no_store=True)


async def show_key(request: Request) -> Response:
    viewer = await require_viewer(request)
    svc = services(request)
    found = key_service.get_key(svc.db, svc.redis, actor_of(viewer), _key_id(request))
    key = (await perform(svc.waker, found)).one(KeyData)
    values = policy_form.to_form(key.policy, key.name)
    return page(
        request,
        "keys/detail.html",
        {
            "key": key,
            "values": values,
            "errors": {},
            "templates": await _templates(request, viewer),
            "all_budgets": await _budgets(request, viewer),
            **choices(viewer, key),
        },
    )


async def update_policy(request: Request) -> Response:
    viewer = await require_viewer(request)
    key_id = _key_id(request)
    data = await form(request)
    svc = services(request)
    try:
        name, policy = policy_form.from_form(data)
    except policy_form.PolicyFormError as refused:
        found = key_service.get_key(svc.db, svc.redis, actor_of(viewer), key_id)
        key = (await perform(svc.waker, found)).one(KeyData)
        return page(
            request,
            "keys/detail.html",
            {
                "key": key,
                "values": policy_form.echo(data),
                "errors": refused.errors,
                "templates": await _templates(request, viewer),
                "all_budgets": await _budgets(request, viewer),
                **choices(viewer, key),
            },
            status=422,
        )
    await perform(svc.waker, key_service.set_policy(svc.db, actor_of(viewer), key_id, name, policy))
    return RedirectResponse(path_for("show_key", key_id=key_id) + "?saved=1", status_code=303)


async def revoke_key(request: Request) -> Response:
    viewer = await require_viewer(request)
    key_id = _key_id(request)
    await form(request)
    svc = services(request)
    await perform(svc.waker, key_service.revoke_key(svc.db, actor_of(viewer), key_id))
    return RedirectResponse(path_for("list_keys"), status_code=303)


routes: list[BaseRoute] = [
    Route("/keys", list_keys, methods=["GET"]),
    Route("/keys", create_key, methods=["POST"]),
    Route("/keys/created", created_key, methods=["GET"]),
    Route("/keys/{key_id}", show_key, methods=["GET"]),
    Route("/keys/{key_id}/policy", update_policy, methods=["POST"]),
    Route("/keys/{key_id}/revoke", revoke_key, methods=["POST"]),
]
