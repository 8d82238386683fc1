"""Policy templates: list them and make one, read one with what names it and its record of
changes, change one after seeing what the change does, delete one nothing names. Every step goes
through ``merchants.policy_templates``, the one definition the API uses too, acting as the
viewer's role may (``keys.actor_of``).

The edit form's only button previews: the page comes back with, for each key and consent, what
the change would do, and a save button that saves exactly what was previewed (the previewed
policy travels with the form; a form changed since is previewed again, not saved).
"""

import json
import re
from typing import Any

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..merchants import policy_templates as service
from ..merchants.template_schemas import (
    ReferenceData,
    TemplateChangeData,
    TemplateCreate,
    TemplateData,
    TemplatePreview,
    TemplateUpdate,
)
from ..operations import perform
from ..policies.model import Policy
from ..services import services
from . import policy_form
from .context import Viewer, require_viewer
from .csrf import form
from .keys import actor_of, choices
from .paths import path_for
from .render import page

__all__ = ["routes"]

_TEMPLATE_ID = re.compile(r"pt_[0-9a-z]{24}")


def _template_id(request: Request) -> str:
    found: str = request.path_params["template_id"]
    if not _TEMPLATE_ID.fullmatch(found):
        raise HTTPException(404)
    return found


def _who(viewer: Viewer) -> str:
    return f"user:{viewer.user_id}"


def _read(data: FormData) -> tuple[str, Policy]:
    """The template's name (required) and policy from the form, or ``PolicyFormError``."""
    name, policy = policy_form.from_form(data)
    if name is None:
        raise policy_form.PolicyFormError({"name": "Give the template a name."})
    if policy.template is not None:
        raise policy_form.PolicyFormError({"": "A template cannot name a template."})
    return name, policy


async def _list_page(
    request: Request, viewer: Viewer, values: dict[str, Any], errors: dict[str, str], status: int
) -> Response:
    svc = services(request)
    listed = service.list_templates(
        svc.db, actor_of(viewer), limit=service.MAX_TEMPLATES, cursor=None
    )
    found = (await perform(svc.waker, listed)).many(TemplateData)
    context = {"templates_list": found, "values": values, "errors": errors, **choices(viewer)}
    return page(request, "keys/templates.html", {**context, "name_required": True}, status=status)


async def list_templates(request: Request) -> Response:
    viewer = await require_viewer(request)
    return await _list_page(request, viewer, policy_form.to_form(None), {}, 200)


async def create_template(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    try:
        name, policy = _read(data)
    except policy_form.PolicyFormError as refused:
        return await _list_page(request, viewer, policy_form.echo(data), refused.errors, 422)
    svc = services(request)
    body = TemplateCreate(name=name, policy=policy)
    made = (
        await perform(
            svc.waker, service.create_template(svc.db, actor_of(viewer), _who(viewer), body)
        )
    ).one(TemplateData)
    return RedirectResponse(path_for("show_template", template_id=made.id), status_code=303)


async def _detail(
    request: Request,
    viewer: Viewer,
    template_id: str,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    preview: TemplatePreview | None = None,
    status: int = 200,
) -> Response:
    svc = services(request)
    actor = actor_of(viewer)
    template = (await perform(svc.waker, service.get_template(svc.db, actor, template_id))).one(
        TemplateData
    )
    refs = (await perform(svc.waker, service.list_references(svc.db, actor, template_id))).many(
        ReferenceData
    )
    record = (await perform(svc.waker, service.list_changes(svc.db, actor, template_id))).many(
        TemplateChangeData
    )
    context = {
        "template": template,
        "references": refs,
        "record": record,
        "values": values or policy_form.to_form(template.policy, template.name),
        "errors": errors or {},
        "preview": preview,
        "previewed": "" if preview is None else json.dumps(preview.policy.stored()),
        "name_required": True,
        **choices(viewer),
    }
    # The form offers what the role may give and what the template holds already.
    context["all_scopes"] = tuple(dict.fromkeys((*context["all_scopes"], *template.policy.scopes)))
    return page(request, "keys/template.html", context, status=status)


async def show_template(request: Request) -> Response:
    viewer = await require_viewer(request)
    return await _detail(request, viewer, _template_id(request))


async def _proposed(
    request: Request, viewer: Viewer, template_id: str, data: FormData
) -> tuple[TemplateUpdate, TemplatePreview] | Response:
    """The change the form asks for and its preview, or the page again with its errors."""
    try:
        name, policy = _read(data)
    except policy_form.PolicyFormError as refused:
        echoed = policy_form.echo(data)
        return await _detail(request, viewer, template_id, echoed, refused.errors, status=422)
    body = TemplateUpdate.model_validate({"name": name, "policy": policy.stored()})
    svc = services(request)
    found = service.preview_template(svc.db, actor_of(viewer), template_id, body)
    return body, (await perform(svc.waker, found)).one(TemplatePreview)


async def preview_template(request: Request) -> Response:
    viewer = await require_viewer(request)
    template_id = _template_id(request)
    data = await form(request)
    proposed = await _proposed(request, viewer, template_id, data)
    if isinstance(proposed, Response):
        return proposed
    _, preview = proposed
    values = policy_form.echo(data)
    return await _detail(request, viewer, template_id, values, preview=preview)


async def save_template(request: Request) -> Response:
    viewer = await require_viewer(request)
    template_id = _template_id(request)
    data = await form(request)
    proposed = await _proposed(request, viewer, template_id, data)
    if isinstance(proposed, Response):
        return proposed
    body, preview = proposed
    previewed = data.get("previewed")
    if previewed != json.dumps(preview.policy.stored()):
        # Changed since it was previewed: show what this one does before saving it.
        values = policy_form.echo(data)
        return await _detail(request, viewer, template_id, values, preview=preview)
    svc = services(request)
    change = service.update_template(svc.db, actor_of(viewer), _who(viewer), template_id, body)
    await perform(svc.waker, change)
    return RedirectResponse(
        path_for("show_template", template_id=template_id) + "?saved=1", status_code=303
    )


async def delete_template(request: Request) -> Response:
    viewer = await require_viewer(request)
    template_id = _template_id(request)
    await form(request)
    svc = services(request)
    gone = service.delete_template(svc.db, actor_of(viewer), _who(viewer), template_id)
    await perform(svc.waker, gone)
    return RedirectResponse(path_for("list_templates"), status_code=303)


# Before the keys' routes: /keys/{key_id} would otherwise take /keys/templates.
routes: list[BaseRoute] = [
    Route("/keys/templates", list_templates, methods=["GET"]),
    Route("/keys/templates", create_template, methods=["POST"]),
    Route("/keys/templates/{template_id}", show_template, methods=["GET"]),
    Route("/keys/templates/{template_id}", save_template, methods=["POST"]),
    Route("/keys/templates/{template_id}/preview", preview_template, methods=["POST"]),
    Route("/keys/templates/{template_id}/delete", delete_template, methods=["POST"]),
]
