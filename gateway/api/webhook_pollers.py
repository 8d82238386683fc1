"""Routes of polling endpoints: the merchant makes, lists and deletes its pollers with an API
key; a poller's own key (``wpk_…``) reads its events and nothing else."""

import re

from starlette.requests import Request
from starlette.responses import Response

from .. import client_limits
from ..auth import KeyUser, presented_key, require_caller
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.parsing import read_json, read_query
from ..webhooks import pollers
from ..webhooks.schemas import PolledEvent, PollerCreate, PollerData, PollerKeyData, PollerRead
from .answer import answer

__all__ = ["routes"]

_PATH = "/webhooks/pollers"
_POLLER_ID = re.compile(r"wpl_[0-9A-Za-z]{24}")


def _poller_id(request: Request) -> str:
    poller_id: str = request.path_params["poller_id"]
    if not _POLLER_ID.fullmatch(poller_id):
        raise ApiError(Code.WEBHOOK_POLLER_NOT_FOUND)
    return poller_id


def _pepper(request: Request) -> bytes:
    return services(request).settings.key_pepper.get_secret_value().encode()


async def create_poller(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    svc = services(request)
    body, _ = await read_json(request, PollerCreate, limit=svc.settings.max_body_bytes)
    operation = pollers.create_poller(
        svc.db, svc.sealer, svc.settings, _pepper(request), caller, body
    )
    return await answer(request, operation)


async def list_pollers(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    return await answer(request, pollers.list_pollers(services(request).db, caller))


async def delete_poller(request: Request) -> Response:
    caller = require_caller(request, "webhooks")
    poller_id = _poller_id(request)
    return await answer(request, pollers.delete_poller(services(request).db, caller, poller_id))


async def read_poller(request: Request) -> Response:
    """A poller key is left to this route by the key door (``auth``): counted per client
    address before it is looked up, as every credential a guesser could try."""
    svc = services(request)
    user = request.scope.get("user")
    caller = user.caller if isinstance(user, KeyUser) else None
    presented = None
    if caller is None:
        presented = presented_key(request)
        await client_limits.POLLER_READS.enforce(svc, request, Code.WEBHOOK_POLLER_RATE_LIMITED)
    elif "webhooks" not in caller.policy.scopes:
        require_caller(request, "webhooks")
    who = pollers.reader(presented, caller)
    poller_id = _poller_id(request)
    query = read_query(request, PollerRead)
    operation = pollers.read_poller(
        svc.db, svc.sealer, svc.settings, _pepper(request), who, poller_id, query
    )
    return await answer(request, operation)


_NOT_FOUND = (*KEY_ERRORS, Code.WEBHOOK_POLLER_NOT_FOUND)

routes = [
    ApiRoute(
        _PATH,
        create_poller,
        methods=["POST"],
        doc=RouteDoc(
            "Make a poller: a consumer that reads the merchant's events by iterator; its key "
            "and signing secret are shown once",
            "webhooks",
            body=PollerCreate,
            response=PollerKeyData,
            success=Code.CREATED,
            errors=(*KEY_ERRORS, *BODY_ERRORS, Code.WEBHOOK_POLLER_LIMIT_REACHED),
            secret=True,
        ),
    ),
    ApiRoute(
        _PATH,
        list_pollers,
        methods=["GET"],
        doc=RouteDoc(
            "List the pollers of this environment", "webhooks", response=PollerData, many=True
        ),
    ),
    ApiRoute(
        _PATH + "/{poller_id}",
        read_poller,
        methods=["GET"],
        doc=RouteDoc(
            "Read a poller's next events after its iterator (or from a time), oldest first, each "
            "signed: with the poller's own key (Bearer wpk_…) or a key with the webhooks scope",
            "webhooks",
            query=PollerRead,
            response=PolledEvent,
            many=True,
            errors=(
                *_NOT_FOUND,
                Code.INVALID_QUERY,
                Code.WEBHOOK_POLLER_KEY_INVALID,
                Code.WEBHOOK_POLLER_ITERATOR_INVALID,
                Code.WEBHOOK_POLLER_RATE_LIMITED,
                Code.SERVICE_UNAVAILABLE,
            ),
        ),
    ),
    ApiRoute(
        _PATH + "/{poller_id}",
        delete_poller,
        methods=["DELETE"],
        doc=RouteDoc(
            "Delete a poller: its key reads nothing from the next request on",
            "webhooks",
            response=PollerData,
            success=Code.DELETED,
            errors=_NOT_FOUND,
        ),
    ),
]
