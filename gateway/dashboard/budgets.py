"""Budgets: list them with their spend, make one, and on a budget's page see who draws on it,
change its windows, freeze or unfreeze it, delete it. Every change goes through
``budgets.service``, the one definition the API uses too; a member acts for their merchant and
environment and holds no limits of a key's."""

import re
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..budgets import service
from ..budgets.schemas import BudgetCreate, BudgetData, BudgetUpdate
from ..operations import perform
from ..policies.model import CALENDAR, BudgetLimits, Interval, Limit
from ..services import services
from ..values.code_names import Code
from ..values.outcome import ApiError
from .context import Viewer, require_viewer
from .csrf import form
from .inputs import FORM, FormErrors, dollars_to_cents, field, listed
from .paths import path_for
from .policy_form import ENTER_PERCENTS, INTERVAL_WORDS, rolling_limit, rolling_values
from .render import page

__all__ = ["routes"]

_BUDGET_ID = re.compile(r"bgt_[0-9a-z]{24}")
_PER = ("per_recipient", "per_platform")
# A refusal of the model, by field: under its own field, else the whole form's.
_FIELDS = {"name": "name", "windows": FORM, "thresholds_percent": "thresholds_percent"}
ROLLING_HOURS = "limit_rolling_hours"


def _budget_id(request: Request) -> str:
    found: str = request.path_params["budget_id"]
    if not _BUDGET_ID.fullmatch(found):
        raise HTTPException(404)
    return found


def _owner(viewer: Viewer) -> service.Owner:
    return service.Owner(viewer.merchant_id, viewer.env)


def _values(budget: BudgetData | None) -> dict[str, str]:
    """The form's fields for ``budget`` (none: empty)."""
    values = {"name": "" if budget is None else budget.name}
    windows = BudgetLimits() if budget is None else budget.windows
    for limit in windows.limits:
        if limit.hours is None:
            values[f"limit_{limit.interval}"] = f"{limit.amount_cents / 100:.2f}"
    values.update(rolling_values(windows.limits))
    for per in _PER:
        found = getattr(windows, f"{per}_limit")
        values[f"{per}_amount"] = "" if found is None else f"{found.amount_cents / 100:.2f}"
        values[f"{per}_interval"] = "daily" if found is None else found.interval
    shares = [] if budget is None else budget.thresholds_percent
    values["thresholds_percent"] = ", ".join(str(p) for p in shares)
    return values


def _levels(data: FormData, errors: FormErrors) -> list[int]:
    """The alert levels the form gives (whole percents); what it cannot read is an error."""
    typed = listed(field(data, "thresholds_percent", 200))
    if all(level.isdigit() and len(level) < 4 for level in typed):
        return [int(level) for level in typed]
    errors.add(ApiError(Code.VALIDATION_FAILED, ENTER_PERCENTS), "thresholds_percent")
    return []


def _windows(data: FormData, errors: FormErrors) -> BudgetLimits:
    """The windows the form gives; each amount it cannot read is an error under its field."""

    def cents(name: str) -> int | None:
        typed = field(data, name, 40).strip()
        if not typed:
            return None
        try:
            return dollars_to_cents(typed)
        except ApiError as refused:
            errors.add(refused, name)
            return None

    limits = []
    for each in CALENDAR:
        amount = cents(f"limit_{each}")
        if amount is not None:
            limits.append(Limit(amount_cents=amount, interval=each))
    wrong: dict[str, str] = {}
    rolling = rolling_limit(data, wrong)
    for name, message in wrong.items():
        errors.errors.setdefault(name, message)
    if rolling is not None and not wrong:
        try:
            limits.append(Limit.model_validate(rolling))
        except ValidationError as refused:
            errors.add(refused, FORM, {"amount_cents": "limit_rolling", "hours": ROLLING_HOURS})
    per: dict[str, Limit | None] = {}
    for name in _PER:
        amount = cents(f"{name}_amount")
        typed = field(data, f"{name}_interval", 20)
        chosen: Interval = next((i for i in CALENDAR if i == typed), "daily")
        per[f"{name}_limit"] = (
            None if amount is None else Limit(amount_cents=amount, interval=chosen)
        )
    return BudgetLimits(limits=tuple(limits), **per)


async def _list_page(
    request: Request, viewer: Viewer, values: dict[str, str], errors: FormErrors
) -> Response:
    svc = services(request)
    listed = await perform(svc.waker, service.list_budgets(svc.db, _owner(viewer)))
    return page(
        request,
        "budgets/index.html",
        {
            "budgets": listed.many(BudgetData),
            "values": values,
            "errors": errors.errors,
            "intervals": CALENDAR,
            "interval_words": INTERVAL_WORDS,
        },
        status=errors.status if errors else 200,
    )


async def list_budgets(request: Request) -> Response:
    viewer = await require_viewer(request)
    return await _list_page(request, viewer, _values(None), FormErrors())


async def create_budget(request: Request) -> Response:
    viewer = await require_viewer(request)
    data = await form(request)
    errors = FormErrors()
    windows, levels = _windows(data, errors), _levels(data, errors)
    try:
        body = BudgetCreate(
            name=field(data, "name", 200), windows=windows, thresholds_percent=levels
        )
    except ValidationError as refused:
        errors.add(refused, fields=_FIELDS)
    if errors:
        return await _list_page(request, viewer, dict(data.items()), errors)  # type: ignore[arg-type]
    svc = services(request)
    try:
        made = (await perform(svc.waker, service.create_budget(svc.db, _owner(viewer), body))).one(
            BudgetData
        )
    except ApiError as refused:
        errors.add(refused, _where(refused))
        return await _list_page(request, viewer, dict(data.items()), errors)  # type: ignore[arg-type]
    return RedirectResponse(path_for("show_budget", budget_id=made.id), status_code=303)


def _where(refused: ApiError) -> str:
    """The field a refusal is said beside: the levels, for levels a rolling window cannot tell."""
    return "thresholds_percent" if refused.code == Code.BUDGET_LEVELS_ON_ROLLING_WINDOW else FORM


async def _detail_page(
    request: Request, viewer: Viewer, values: dict[str, str] | None, errors: FormErrors
) -> Response:
    svc = services(request)
    found = service.get_budget(svc.db, _owner(viewer), _budget_id(request))
    budget = (await perform(svc.waker, found)).one(BudgetData)
    context: dict[str, Any] = {
        "budget": budget,
        "values": _values(budget) if values is None else values,
        "errors": errors.errors,
        "intervals": CALENDAR,
        "interval_words": INTERVAL_WORDS,
    }
    return page(request, "budgets/detail.html", context, status=errors.status if errors else 200)


async def show_budget(request: Request) -> Response:
    viewer = await require_viewer(request)
    return await _detail_page(request, viewer, None, FormErrors())


async def update_budget(request: Request) -> Response:
    viewer = await require_viewer(request)
    budget_id = _budget_id(request)
    data = await form(request)
    errors = FormErrors()
    windows, levels = _windows(data, errors), _levels(data, errors)
    try:
        body = BudgetUpdate(
            name=field(data, "name", 200), windows=windows, thresholds_percent=levels
        )
    except ValidationError as refused:
        errors.add(refused, fields=_FIELDS)
    if errors:
        return await _detail_page(request, viewer, dict(data.items()), errors)  # type: ignore[arg-type]
    svc = services(request)
    try:
        await perform(svc.waker, service.update_budget(svc.db, _owner(viewer), budget_id, body))
    except ApiError as refused:
        if refused.code != Code.BUDGET_LEVELS_ON_ROLLING_WINDOW:
            raise
        errors.add(refused, _where(refused))
        return await _detail_page(request, viewer, dict(data.items()), errors)  # type: ignore[arg-type]
    return RedirectResponse(path_for("show_budget", budget_id=budget_id) + "?saved=1", 303)


async def freeze_budget(request: Request) -> Response:
    viewer = await require_viewer(request)
    budget_id = _budget_id(request)
    data = await form(request)
    frozen = field(data, "frozen", 10) == "true"
    svc = services(request)
    await perform(svc.waker, service.freeze(svc.db, _owner(viewer), budget_id, frozen))
    return RedirectResponse(path_for("show_budget", budget_id=budget_id), status_code=303)


async def delete_budget(request: Request) -> Response:
    viewer = await require_viewer(request)
    budget_id = _budget_id(request)
    await form(request)
    svc = services(request)
    await perform(svc.waker, service.delete_budget(svc.db, _owner(viewer), budget_id))
    return RedirectResponse(path_for("list_budgets"), status_code=303)


routes: list[BaseRoute] = [
    Route("/budgets", list_budgets, methods=["GET"]),
    Route("/budgets", create_budget, methods=["POST"]),
    Route("/budgets/{budget_id}", show_budget, methods=["GET"]),
    Route("/budgets/{budget_id}", update_budget, methods=["POST"]),
    Route("/budgets/{budget_id}/freeze", freeze_budget, methods=["POST"]),
    Route("/budgets/{budget_id}/delete", delete_budget, methods=["POST"]),
]
