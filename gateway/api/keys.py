"""Routes of a merchant's keys: make (shown once), list, read, change the policy of, revoke.

Every route needs the ``keys`` scope and acts within the calling key's merchant and environment
(``merchants.keys``); a key made here is of the caller's environment.
"""

import re

from starlette.requests import Request
from starlette.responses import Response

from ..auth import require_caller
from ..callers import require_scope
from ..merchants import keys
from ..merchants.schemas import KeyCreate, KeyCreated, KeyData, KeysQuery, KeyUpdate
from ..ops.routing import BODY_ERRORS, CURSOR_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..policies.usage import KeyUsage
from ..services import services
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.parsing import check_cursor, read_json, read_query
from .answer import answer

__all__ = ["routes"]

# A key id's shape; ``self`` is none, so ``/keys/self`` is never taken for a key id.
_KEY_ID = re.compile(r"key_[0-9a-z]{24}")
_AUTH = (*KEY_ERRORS, Code.KEY_SCOPE_MISSING)
_BODY = BODY_ERRORS
_NOT_FOUND = (*_AUTH, Code.API_KEY_NOT_FOUND)


def _key_id(request: Request) -> str:
    key_id: str = request.path_params["key_id"]
    if not _KEY_ID.fullmatch(key_id):
        raise ApiError(Code.API_KEY_NOT_FOUND)
    return key_id


def _actor(request: Request) -> keys.Actor:
    caller = require_caller(request, "keys")
    require_scope(caller, "keys")
    return keys.by_key(caller)


async def key_self(request: Request) -> Response:
    caller = require_caller(request, None)  # every key may read its own limits
    svc = services(request)
    return await answer(request, keys.own_limits(svc.db, caller))


async def create_key(request: Request) -> Response:
    actor = _actor(request)
    svc = services(request)
    body, _ = await read_json(request, KeyCreate, limit=svc.settings.max_body_bytes)
    operation = keys.create_key(
        svc.db,
        actor,
        name=body.name,
        policy=body.policy,
        pepper=svc.settings.key_pepper.get_secret_value().encode(),
        cap=svc.settings.max_keys_per_merchant_env,
    )
    return await answer(request, operation)


async def list_keys(request: Request) -> Response:
    actor = _actor(request)
    query = read_query(request, KeysQuery)
    check_cursor(query.cursor, _KEY_ID)
    svc = services(request)
    operation = keys.list_keys(svc.db, svc.redis, actor, limit=query.limit, cursor=query.cursor)
    return await answer(request, operation)


async def get_key(request: Request) -> Response:
    actor = _actor(request)
    key_id = _key_id(request)
    svc = services(request)
    return await answer(request, keys.get_key(svc.db, svc.redis, actor, key_id))


async def update_key(request: Request) -> Response:
    actor = _actor(request)
    svc = services(request)
    key_id = _key_id(request)
    body, _ = await read_json(request, KeyUpdate, limit=svc.settings.max_body_bytes)
    return await answer(request, keys.update_key(svc.db, actor, key_id, body))


async def revoke_key(request: Request) -> Response:
    actor = _actor(request)
    key_id = _key_id(request)
    svc = services(request)
    return await answer(request, keys.revoke_key(svc.db, actor, key_id))


routes = [
    ApiRoute(
        "/keys",
        create_key,
        methods=["POST"],
        doc=RouteDoc(
            "Make a key of this environment with a name and a policy; the reply carries the "
            "key, once",
            "keys",
            body=KeyCreate,
            response=KeyCreated,
            success=Code.CREATED,
            errors=(
                *_AUTH,
                *_BODY,
                Code.KEY_SCOPE_NOT_GRANTABLE,
                Code.KEY_REVEAL_NOT_GRANTABLE,
                Code.BUDGET_NOT_IN_ENV,
            ),
            secret=True,
        ),
    ),
    ApiRoute(
        "/keys",
        list_keys,
        methods=["GET"],
        doc=RouteDoc(
            "List this environment's keys, newest first, revoked ones too",
            "keys",
            query=KeysQuery,
            response=KeyData,
            many=True,
            errors=(*_AUTH, *CURSOR_ERRORS),
        ),
    ),
    # Before /keys/{key_id}: the first route whose path matches takes the request.
    ApiRoute(
        "/keys/self",
        key_self,
        methods=["GET"],
        doc=RouteDoc(
            "The calling key's policy, and per limit its spend, what remains and when the "
            "window resets; any key may ask",
            "keys",
            response=KeyUsage,
            errors=KEY_ERRORS,
        ),
    ),
    ApiRoute(
        "/keys/{key_id}",
        get_key,
        methods=["GET"],
        doc=RouteDoc("Get a key and its policy", "keys", response=KeyData, errors=_NOT_FOUND),
    ),
    ApiRoute(
        "/keys/{key_id}",
        update_key,
        methods=["PATCH"],
        doc=RouteDoc(
            "Change a key's name or policy: the policy fields present replace the stored ones",
            "keys",
            body=KeyUpdate,
            response=KeyData,
            errors=(
                *_NOT_FOUND,
                *_BODY,
                Code.KEY_SCOPE_NOT_GRANTABLE,
                Code.KEY_REVEAL_NOT_GRANTABLE,
                Code.BUDGET_NOT_IN_ENV,
            ),
        ),
    ),
    ApiRoute(
        "/keys/{key_id}",
        revoke_key,
        methods=["DELETE"],
        doc=RouteDoc(
            "Revoke a key: refused from its next request on (a revoked key answers as it is)",
            "keys",
            response=KeyData,
            success=Code.DELETED,
            errors=_NOT_FOUND,
        ),
    ),
]
