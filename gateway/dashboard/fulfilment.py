"""The dashboard's Fulfilment page: each platform's provider in the environment of the switch
(the voucher, or an upstream of the registry, ``upstreams.providers``: its fields, labels and
help are the provider's own), saved through the same service as ``PUT /fulfilment``
(``gateway.upstreams.config``), and a "test connection" with the saved credentials, alone or
right after a save ("Save and test"). Credentials are written, never shown again: a save that
leaves one empty keeps the saved one.

A refused save shows the page again with every refusal beside its field and in the list above
the form, what was typed kept (credentials excepted). A save, a test, or both end in a redirect
to the page (post/redirect/get): its answer is carried in the query, as a fixed set of values
the page turns into sentences, so a reload repeats nothing."""

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .. import merchant_limits
from ..operations import perform
from ..services import services
from ..upstreams import config, providers
from ..upstreams.clients import OUTCOMES, VOUCHER, sentence
from ..upstreams.providers import FormField
from ..upstreams.schemas import FulfilmentData, FulfilmentTestData
from ..values.code_names import Code
from ..values.marking import marked
from ..values.outcome import ApiError
from ..values.platforms import PLATFORMS
from .context import Viewer, require_viewer
from .csrf import form
from .inputs import FORM, field, problem
from .paths import path_for
from .render import page, reading

__all__ = ["labels", "routes"]


def _fields(provider: str) -> tuple[FormField, ...]:
    """``provider``'s fields of the form, as its module gives them (none for the voucher)."""
    found = providers.get(provider)
    return found.fields if found is not None else ()


def labels() -> dict[str, str]:
    """Every field of the form by its name: its label (marked), the provider's own."""
    found = {f.name: f.label for p in providers.all_providers() for f in p.fields}
    return found | {"provider": "Provider"}


def _secrets() -> set[str]:
    return {f.name for p in providers.all_providers() for f in p.fields if f.secret}


def _typed(data: FormData) -> dict[str, Any]:
    """The form as ``PUT /fulfilment/{platform}``'s body: only the chosen provider's fields,
    each left empty left out (an empty credential: the saved one stays)."""
    provider = field(data, "provider", 20)
    body: dict[str, Any] = {"provider": provider}
    for one in _fields(provider):
        value = field(data, one.name, 512 if one.secret else 2048).strip()
        if not value:
            continue
        if one.whole:
            body[one.key] = int(value) if value.isdigit() else value
        else:
            body[one.key] = value
    return body


def _form_field(provider: str, key: str) -> str:
    """The form's field of the body's field ``key`` for ``provider`` (``FORM`` if none)."""
    for one in _fields(provider):
        if one.key == key:
            return one.name
    return "provider" if key == "provider" else FORM


def _refusals(provider: str, exc: ApiError | ValidationError) -> dict[str, str]:
    """Every refusal of a save by the form's field it belongs to (``FORM``: the whole form)."""
    found: dict[str, str] = {}
    known = providers.names()
    if isinstance(exc, ValidationError):
        for error in exc.errors(include_url=False, include_input=False):
            loc = [str(part) for part in error["loc"]]
            # A provider's model answers under its tag: ("newapi", "user_id").
            key = loc[1] if len(loc) > 1 and loc[0] in known else (loc[0] if loc else "")
            found.setdefault(_form_field(provider, key), error["msg"])
        return found
    data = exc.data if isinstance(exc.data, dict) else {}
    if exc.code == Code.FULFILMENT_URL_INVALID and isinstance(data.get("field"), str):
        found[_form_field(provider, data["field"])] = problem(exc)[1]
    elif exc.code == Code.VALIDATION_FAILED and data.get("errors"):
        for error in data["errors"]:
            key = error["loc"][0] if error.get("loc") else ""
            found.setdefault(_form_field(provider, key), error["msg"])
    else:
        found[FORM] = problem(exc)[1]
    return found


# A connection test's answer, said in the reader's words.
_CONNECTED = marked("Connected to %(name)s.")
_CONNECTED_IN = marked("Connected to %(name)s in %(ms)s ms.")
_REFUSED = marked("%(reason)s.")
_LIMITED = marked("Too many fulfilment connection tests: try again later.")
_LIMITED_IN = marked("Too many fulfilment connection tests: try again in %(seconds)s s.")
_UNSET = marked("No provider with credentials is set for this platform.")


def _result(query: Any, platform: str, _: Callable[[str], str]) -> tuple[str, bool] | None:
    """The connection test's answer the redirect carries for ``platform``, as a sentence in
    the reader's words (``_``) and whether it passed; only values the page knows become words."""
    if query.get("tested") != platform:
        return None
    result, provider = query.get("result", ""), query.get("provider", "")
    known = providers.names()
    if result == "ok" and provider in known:
        ms, name = query.get("ms", ""), providers.name_of(provider)
        if ms.isdigit() and len(ms) < 8:
            return _(_CONNECTED_IN) % {"name": name, "ms": int(ms)}, True
        return _(_CONNECTED) % {"name": name}, True
    if result in OUTCOMES and provider in known:
        reason, values = sentence(providers.name_of(provider), result)
        return _(_REFUSED) % {"reason": _(reason) % values}, False
    if result == "limited":
        retry = query.get("retry", "")
        if retry.isdigit() and len(retry) < 6:
            return _(_LIMITED_IN) % {"seconds": int(retry)}, False
        return _(_LIMITED), False
    if result == "unset":
        return _(_UNSET), False
    return None


def _saved_values(saved: FulfilmentData) -> dict[str, str]:
    """A platform's form filled from its saved provider (credentials never)."""
    given = {
        "base_url": saved.base_url,
        "user_id": saved.user_id,
        "quota_per_usd": saved.quota_per_usd,
        "redeem_url": saved.redeem_url,
        "redeem_instructions": saved.redeem_instructions,
        "limit_reset": saved.limit_reset,
        "key_expires_after_days": saved.key_expires_after_days,
    }
    values = {"provider": saved.provider}
    for one in _fields(saved.provider):
        if not one.secret and given.get(one.key) is not None:
            values[one.name] = str(given[one.key])
    return values


async def _home(
    request: Request,
    viewer: Viewer,
    *,
    status: int = 200,
    refused: tuple[str, dict[str, str], dict[str, str]] | None = None,
    tested: dict[str, str] | None = None,
) -> Response:
    """The page; ``refused``: a platform's refused save (its errors by field id, what was
    typed by field name); ``tested``: a test's answer said without a redirect."""
    svc = services(request)
    listed = config.list_settings(svc.db, viewer.merchant_id, viewer.env)
    found = (await perform(svc.waker, listed)).many(FulfilmentData)
    query: Any = tested if tested is not None else request.query_params
    saved = query.get("saved")
    _ = reading(request).gettext
    values = {s.platform: _saved_values(s) for s in found}
    if refused is not None:
        values[refused[0]] = refused[2]
    context = {
        "settings": found,
        "refused": refused,  # (platform, errors by field id, typed values)
        "values": values,  # each platform's form: what was typed, else what is saved
        "results": {s.platform: _result(query, s.platform, _) for s in found},
        "saved": saved if saved in PLATFORMS else None,
        "labels": {f"{n}-{p}": label for p in PLATFORMS for n, label in labels().items()},
        "upstreams": providers.all_providers(),
        "loopback_allowed": config.allows_loopback(svc.settings, viewer.env),
    }
    return page(request, "fulfilment/index.html", context, status=status)


async def fulfilment(request: Request) -> Response:
    viewer = await require_viewer(request)
    return await _home(request, viewer)


def _platform(request: Request) -> str:
    platform: str = request.path_params["platform"]
    if platform not in PLATFORMS:
        raise ApiError(Code.ROUTE_NOT_FOUND)
    return platform


def _back(platform: str, **answer: str) -> RedirectResponse:
    query = urlencode(answer)
    return RedirectResponse(
        f"{path_for('fulfilment')}?{query}#platform-{platform}", status_code=303
    )


async def _tested(request: Request, viewer: Viewer, platform: str) -> dict[str, str]:
    """A connection test, counted as the API's (the same bucket): its answer for the query."""
    svc = services(request)
    assert svc.upstreams is not None
    try:
        await merchant_limits.FULFILMENT_TEST.count(svc, viewer.merchant_id)
        operation = config.test(
            svc.db,
            svc.sealer,
            svc.upstreams.for_env(viewer.env),
            viewer.merchant_id,
            viewer.env,
            platform,
        )
        done = (await perform(svc.waker, operation)).one(FulfilmentTestData)
    except ApiError as exc:
        data = exc.data if isinstance(exc.data, dict) else {}
        if exc.code == Code.FULFILMENT_TEST_RATE_LIMITED:
            return {"result": "limited", "retry": (exc.headers or {}).get("Retry-After", "")}
        if exc.code == Code.FULFILMENT_NOT_CONFIGURED:
            return {"result": "unset"}
        outcome = data.get("outcome")
        provider = await _provider(request, viewer, platform)
        if isinstance(outcome, str):
            return {"result": outcome, "provider": provider}
        raise
    return {"result": "ok", "provider": done.provider, "ms": str(done.duration_ms)}


async def _provider(request: Request, viewer: Viewer, platform: str) -> str:
    svc = services(request)
    listed = config.list_settings(svc.db, viewer.merchant_id, viewer.env)
    found = (await perform(svc.waker, listed)).many(FulfilmentData)
    return next((s.provider for s in found if s.platform == platform), VOUCHER)


async def save(request: Request) -> Response:
    viewer = await require_viewer(request)
    platform = _platform(request)
    data = await form(request)
    svc = services(request)
    typed = _typed(data)
    provider = str(typed["provider"])
    try:
        body = providers.body_model().model_validate(typed, strict=True).root
        operation = config.save(
            svc.db, svc.sealer, svc.settings, viewer.merchant_id, viewer.env, platform, body
        )
        await perform(svc.waker, operation)
    except (ApiError, ValidationError) as exc:
        status, _ = problem(exc)
        secrets = _secrets()
        kept = {
            name: field(data, name)
            for name in [*labels(), "provider"]
            if name not in secrets and name in data
        }
        errors = {
            (f"{name}-{platform}" if name else FORM): message
            for name, message in _refusals(provider, exc).items()
        }
        refused = (platform, errors, kept)
        return await _home(request, viewer, status=status, refused=refused)
    answer = {"saved": platform}
    if field(data, "then", 10) == "test" and provider != VOUCHER:
        answer |= {"tested": platform, **await _tested(request, viewer, platform)}
    return _back(platform, **answer)


async def test(request: Request) -> Response:
    viewer = await require_viewer(request)
    platform = _platform(request)
    await form(request)
    answer = {"tested": platform, **await _tested(request, viewer, platform)}
    if answer["result"] == "limited":  # refused, nothing ran: said here, as the API says it
        response = await _home(request, viewer, status=429, tested=answer)
        response.headers["Retry-After"] = answer["retry"]
        return response
    return _back(platform, **answer)


routes: list[BaseRoute] = [
    Route("/fulfilment", fulfilment, methods=["GET"]),
    Route("/fulfilment/{platform}", save, methods=["POST"], name="save_fulfilment"),
    Route("/fulfilment/{platform}/test", test, methods=["POST"]),
]
