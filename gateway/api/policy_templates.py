"""Routes of a merchant's policy templates: make, list, read, change, preview a change, delete,
and read what names one and its record of changes.

Every route needs the ``keys`` scope (a template is a policy of keys) and acts within the
calling key's merchant and environment (``merchants.policy_templates``).
"""

import re

from starlette.requests import Request
from starlette.responses import Response

from ..auth import require_caller
from ..callers import require_scope
from ..merchants import keys, policy_templates
from ..merchants.template_schemas import (
    ReferenceData,
    TemplateChangeData,
    TemplateCreate,
    TemplateData,
    TemplatePreview,
    TemplatesQuery,
    TemplateUpdate,
)
from ..ops.routing import BODY_ERRORS, CURSOR_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.parsing import check_cursor, read_json, read_query
from .answer import answer

__all__ = ["routes"]

_TEMPLATE_ID = re.compile(r"pt_[0-9a-z]{24}")
_AUTH = (*KEY_ERRORS, Code.KEY_SCOPE_MISSING)
_NOT_FOUND = (*_AUTH, Code.POLICY_TEMPLATE_NOT_FOUND)
_GIVES = (Code.KEY_SCOPE_NOT_GRANTABLE, Code.KEY_REVEAL_NOT_GRANTABLE, Code.KEY_LIMIT_NOT_GRANTABLE)


def _template_id(request: Request) -> str:
    template_id: str = request.path_params["template_id"]
    if not _TEMPLATE_ID.fullmatch(template_id):
        raise ApiError(Code.POLICY_TEMPLATE_NOT_FOUND)
    return template_id


def _actor(request: Request) -> tuple[keys.Actor, str]:
    caller = require_caller(request, "keys")
    require_scope(caller, "keys")
    return keys.by_key(caller), f"key:{caller.key_id}"


async def create_template(request: Request) -> Response:
    actor, who = _actor(request)
    svc = services(request)
    body, _ = await read_json(request, TemplateCreate, limit=svc.settings.max_body_bytes)
    return await answer(request, policy_templates.create_template(svc.db, actor, who, body))


async def list_templates(request: Request) -> Response:
    actor, _ = _actor(request)
    query = read_query(request, TemplatesQuery)
    check_cursor(query.cursor, _TEMPLATE_ID)
    svc = services(request)
    operation = policy_templates.list_templates(
        svc.db, actor, limit=query.limit, cursor=query.cursor
    )
    return await answer(request, operation)


async def get_template(request: Request) -> Response:
    actor, _ = _actor(request)
    template_id = _template_id(request)
    svc = services(request)
    return await answer(request, policy_templates.get_template(svc.db, actor, template_id))


async def update_template(request: Request) -> Response:
    actor, who = _actor(request)
    template_id = _template_id(request)
    svc = services(request)
    body, _ = await read_json(request, TemplateUpdate, limit=svc.settings.max_body_bytes)
    operation = policy_templates.update_template(svc.db, actor, who, template_id, body)
    return await answer(request, operation)


async def preview_template(request: Request) -> Response:
    actor, _ = _actor(request)
    template_id = _template_id(request)
    svc = services(request)
    body, _ = await read_json(request, TemplateUpdate, limit=svc.settings.max_body_bytes)
    operation = policy_templates.preview_template(svc.db, actor, template_id, body)
    return await answer(request, operation)


async def delete_template(request: Request) -> Response:
    actor, who = _actor(request)
    template_id = _template_id(request)
    svc = services(request)
    operation = policy_templates.delete_template(svc.db, actor, who, template_id)
    return await answer(request, operation)


async def list_references(request: Request) -> Response:
    actor, _ = _actor(request)
    template_id = _template_id(request)
    svc = services(request)
    return await answer(request, policy_templates.list_references(svc.db, actor, template_id))


async def list_changes(request: Request) -> Response:
    actor, _ = _actor(request)
    template_id = _template_id(request)
    svc = services(request)
    return await answer(request, policy_templates.list_changes(svc.db, actor, template_id))


_TAG = "policy templates"

routes = [
    ApiRoute(
        "/policy-templates",
        create_template,
        methods=["POST"],
        doc=RouteDoc(
            "Make a policy template of this environment: keys and consents that name it act "
            "under it, narrowed by their own policy",
            _TAG,
            body=TemplateCreate,
            response=TemplateData,
            success=Code.CREATED,
            errors=(
                *_AUTH,
                *BODY_ERRORS,
                *_GIVES,
                Code.BUDGET_NOT_IN_ENV,
                Code.POLICY_TEMPLATE_NESTED,
                Code.POLICY_TEMPLATE_COUNT_LIMIT_REACHED,
            ),
        ),
    ),
    ApiRoute(
        "/policy-templates",
        list_templates,
        methods=["GET"],
        doc=RouteDoc(
            "List this environment's policy templates, newest first, with how many keys and "
            "consents name each",
            _TAG,
            query=TemplatesQuery,
            response=TemplateData,
            many=True,
            errors=(*_AUTH, *CURSOR_ERRORS),
        ),
    ),
    ApiRoute(
        "/policy-templates/{template_id}",
        get_template,
        methods=["GET"],
        doc=RouteDoc("Get a policy template", _TAG, response=TemplateData, errors=_NOT_FOUND),
    ),
    ApiRoute(
        "/policy-templates/{template_id}",
        update_template,
        methods=["PATCH"],
        doc=RouteDoc(
            "Change a policy template's name or policy; every key and consent naming it acts "
            "under the change from its next request",
            _TAG,
            body=TemplateUpdate,
            response=TemplateData,
            errors=(
                *_NOT_FOUND,
                *BODY_ERRORS,
                *_GIVES,
                Code.BUDGET_NOT_IN_ENV,
                Code.POLICY_TEMPLATE_NESTED,
            ),
        ),
    ),
    ApiRoute(
        "/policy-templates/{template_id}",
        delete_template,
        methods=["DELETE"],
        doc=RouteDoc(
            "Delete a policy template no key or consent names any more",
            _TAG,
            response=TemplateData,
            success=Code.DELETED,
            errors=(*_NOT_FOUND, Code.POLICY_TEMPLATE_IN_USE),
        ),
    ),
    ApiRoute(
        "/policy-templates/{template_id}/preview",
        preview_template,
        methods=["POST"],
        doc=RouteDoc(
            "What a change (a PATCH's body) would do to each key and consent naming the "
            "template, field by field; nothing is saved",
            _TAG,
            body=TemplateUpdate,
            response=TemplatePreview,
            errors=(*_NOT_FOUND, *BODY_ERRORS, Code.POLICY_TEMPLATE_NESTED),
        ),
    ),
    ApiRoute(
        "/policy-templates/{template_id}/references",
        list_references,
        methods=["GET"],
        doc=RouteDoc(
            "The keys and consents (not revoked) that name a policy template",
            _TAG,
            response=ReferenceData,
            many=True,
            errors=_NOT_FOUND,
        ),
    ),
    ApiRoute(
        "/policy-templates/{template_id}/changes",
        list_changes,
        methods=["GET"],
        doc=RouteDoc(
            "Every change to a policy template, newest first: who, when, the policy before "
            "and after; kept after it is deleted",
            _TAG,
            response=TemplateChangeData,
            many=True,
            errors=_NOT_FOUND,
        ),
    ),
]
