"""Routes of a merchant's budgets: make, list (each with its spend and what draws on it), read,
change, delete (refused while drawn on), freeze and unfreeze.

Every route needs the ``keys`` scope (a budget is a limit on keys) and acts within the calling
key's merchant and environment (``budgets.service``); a key that draws on a budget may freeze it
but not loosen it.
"""

import re

from starlette.requests import Request
from starlette.responses import Response

from ..auth import require_caller
from ..budgets import service
from ..budgets.schemas import BudgetCreate, BudgetData, BudgetUpdate
from ..callers import require_scope
from ..ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
from ..values.outcome import ApiError
from ..values.parsing import read_json
from .answer import answer

__all__ = ["routes"]

_BUDGET_ID = re.compile(r"bgt_[0-9a-z]{24}")
_AUTH = (*KEY_ERRORS, Code.KEY_SCOPE_MISSING)
_NOT_FOUND = (*_AUTH, Code.BUDGET_NOT_FOUND)


def _budget_id(request: Request) -> str:
    budget_id: str = request.path_params["budget_id"]
    if not _BUDGET_ID.fullmatch(budget_id):
        raise ApiError(Code.BUDGET_NOT_FOUND, data={"budget_id": budget_id[:40]})
    return budget_id


def _owner(request: Request) -> service.Owner:
    caller = require_caller(request, "keys")
    require_scope(caller, "keys")
    return service.Owner(caller.merchant_id, caller.env, caller.policy)


async def create_budget(request: Request) -> Response:
    owner = _owner(request)
    svc = services(request)
    body, _ = await read_json(request, BudgetCreate, limit=svc.settings.max_body_bytes)
    return await answer(request, service.create_budget(svc.db, owner, body))


async def list_budgets(request: Request) -> Response:
    owner = _owner(request)
    return await answer(request, service.list_budgets(services(request).db, owner))


async def get_budget(request: Request) -> Response:
    owner = _owner(request)
    budget_id = _budget_id(request)
    return await answer(request, service.get_budget(services(request).db, owner, budget_id))


async def update_budget(request: Request) -> Response:
    owner = _owner(request)
    budget_id = _budget_id(request)
    svc = services(request)
    body, _ = await read_json(request, BudgetUpdate, limit=svc.settings.max_body_bytes)
    return await answer(request, service.update_budget(svc.db, owner, budget_id, body))


async def delete_budget(request: Request) -> Response:
    owner = _owner(request)
    budget_id = _budget_id(request)
    return await answer(request, service.delete_budget(services(request).db, owner, budget_id))


async def freeze_budget(request: Request) -> Response:
    owner = _owner(request)
    budget_id = _budget_id(request)
    frozen = request.method == "POST"
    return await answer(request, service.freeze(services(request).db, owner, budget_id, frozen))


routes = [
    ApiRoute(
        "/budgets",
        create_budget,
        methods=["POST"],
        doc=RouteDoc(
            "Make a budget of this environment: windows that every key and app connection "
            "naming it in its policy's budgets draws on together",
            "budgets",
            body=BudgetCreate,
            response=BudgetData,
            success=Code.CREATED,
            errors=(
                *_AUTH,
                *BODY_ERRORS,
                Code.BUDGET_COUNT_LIMIT_REACHED,
                Code.BUDGET_LEVELS_ON_ROLLING_WINDOW,
            ),
        ),
    ),
    ApiRoute(
        "/budgets",
        list_budgets,
        methods=["GET"],
        doc=RouteDoc(
            "List this environment's budgets, oldest first, each with its spend and what "
            "draws on it",
            "budgets",
            response=BudgetData,
            many=True,
            errors=_AUTH,
        ),
    ),
    ApiRoute(
        "/budgets/{budget_id}",
        get_budget,
        methods=["GET"],
        doc=RouteDoc(
            "Get a budget: its windows, their spend now, and the keys and app connections "
            "that draw on it",
            "budgets",
            response=BudgetData,
            errors=_NOT_FOUND,
        ),
    ),
    ApiRoute(
        "/budgets/{budget_id}",
        update_budget,
        methods=["PATCH"],
        doc=RouteDoc(
            "Rename a budget or replace its windows; a key that draws on it may not",
            "budgets",
            body=BudgetUpdate,
            response=BudgetData,
            errors=(
                *_NOT_FOUND,
                *BODY_ERRORS,
                Code.KEY_LIMIT_NOT_GRANTABLE,
                Code.BUDGET_LEVELS_ON_ROLLING_WINDOW,
            ),
        ),
    ),
    ApiRoute(
        "/budgets/{budget_id}",
        delete_budget,
        methods=["DELETE"],
        doc=RouteDoc(
            "Delete a budget nothing draws on, with its spend",
            "budgets",
            response=BudgetData,
            success=Code.DELETED,
            errors=(*_NOT_FOUND, Code.BUDGET_DRAWN_ON, Code.KEY_LIMIT_NOT_GRANTABLE),
        ),
    ),
    ApiRoute(
        "/budgets/{budget_id}/freeze",
        freeze_budget,
        methods=["POST"],
        doc=RouteDoc(
            "Freeze a budget: from the next payment on, none that draws on it is admitted",
            "budgets",
            response=BudgetData,
            errors=_NOT_FOUND,
        ),
    ),
    ApiRoute(
        "/budgets/{budget_id}/freeze",
        freeze_budget,
        methods=["DELETE"],
        doc=RouteDoc(
            "Unfreeze a budget; a key that draws on it may not",
            "budgets",
            response=BudgetData,
            errors=(*_NOT_FOUND, Code.KEY_LIMIT_NOT_GRANTABLE),
        ),
    ),
]
