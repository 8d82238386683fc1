"""The door every admin route goes through (``route``): the token check first, behind the admin
lockout (failed attempts per client, ``gateway.lockout``), then the handler, then the audit row
for calls whose service did not already write one inside its own transaction; and the route's
documentation, with the refusals every admin call may answer."""

from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from ...admin import audit
from ...admin.audit import Call
from ...lockout import client_address
from ...ops.outage import failure_outcome
from ...ops.routing import BODY_ERRORS, ApiRoute, RouteDoc
from ...ratelimit import Decision, Limit, LimiterUnavailable, unavailable
from ...services import Services, services
from ...values.clock import utcnow
from ...values.code_names import Code
from ...values.envelope import Envelope
from ...values.outcome import ApiError

__all__ = ["NO_MERCHANT", "STRIPE", "Handler", "path_id", "route"]

Handler = Callable[[Request, Call], Awaitable[Response]]

_AUTH = (
    Code.ADMIN_DISABLED,
    Code.ADMIN_TOKEN_MISSING,
    Code.ADMIN_TOKEN_INVALID,
    Code.ADMIN_API_KEY_REFUSED,
    Code.ADMIN_RATE_LIMITED,
    Code.AUTH_HEADER_REPEATED,
)
_BODY = BODY_ERRORS
NO_MERCHANT = (Code.MERCHANT_NOT_FOUND,)
STRIPE = (Code.PAYMENT_PROVIDER_ERROR, Code.PAYMENT_PROVIDER_TIMEOUT)


def _locked_out(lockout: Decision) -> ApiError:
    return ApiError(Code.ADMIN_RATE_LIMITED, data=lockout.data(), headers=lockout.headers())


async def _admitted(request: Request, svc: Services, action: str) -> Call:
    """The token check, behind a lockout per client: past the limit of failed attempts every
    attempt is refused until the window ends, the right token too. Each failed attempt the
    limit counted is audited; refusals by the lockout are not, so at most the limit's worth of
    rows a window per client: an attacker cannot flood the audit log."""
    audit.require_enabled(svc.settings)
    client = client_address(request)
    limits = [
        Limit(
            f"admin:client:{client}",
            svc.settings.admin_failures_per_client,
            svc.settings.auth_failure_window_seconds,
        )
    ]
    try:
        # Closed, and counted before the check as a password is: the token guards the operator
        # and a person chose it, so a burst is checked no further than the limit's room, and an
        # attempt Redis cannot count is refused unchecked (``Lockout.admit``).
        locked = await svc.lockout.admit(svc.redis, limits)
    except LimiterUnavailable:
        # Closed means no token is checked at all, the right one neither: the lockout guards a
        # secret a person chose. The operator's other door (the command line) reads the store.
        raise unavailable() from None
    if locked is not None:
        raise _locked_out(locked)
    try:
        call = audit.authenticate(request, svc.settings, action)
    except ApiError as refused:
        if refused.code not in audit.REFUSED_TOKEN:
            await svc.lockout.succeeded(svc.redis, limits)  # no token was checked
            raise
        await svc.lockout.refused(svc.redis, limits)
        await audit.record_refused(svc.db, request, action, refused.code, client, utcnow())
        raise
    await svc.lockout.succeeded(svc.redis, limits)
    return call


def _admin(action: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        svc = services(request)
        call = await _admitted(request, svc, action)
        target = request.path_params.get("id")
        try:
            response = await handler(request, call)
        except ApiError as exc:
            await audit.record_after(svc.db, call, exc.code, utcnow(), target_id=target)
            raise
        except Exception as exc:  # recorded with the code the handlers answer it with
            answered = failure_outcome(exc).code
            await audit.record_after(svc.db, call, answered, utcnow(), target_id=target)
            raise
        code = response.code if isinstance(response, Envelope) else Code.SUCCESS
        await audit.record_after(
            svc.db, call, code, utcnow(), http_status=response.status_code, target_id=target
        )
        return response

    endpoint.__name__ = handler.__name__
    return endpoint


def path_id(request: Request) -> str:
    value: str = request.path_params["id"]
    return value[:60]


def route(
    path: str,
    handler: Handler,
    method: str,
    action: str,
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    many: bool = False,
    success: Code = Code.SUCCESS,
    errors: tuple[Code, ...] = (),
    secret: bool = False,
) -> ApiRoute:
    extra = (*_BODY,) if body is not None else (Code.INVALID_QUERY,) if query is not None else ()
    return ApiRoute(
        path,
        _admin(action, handler),
        methods=[method],
        doc=RouteDoc(
            summary,
            "admin",
            auth="admin",
            body=body,
            query=query,
            response=response,
            many=many,
            success=success,
            errors=(*_AUTH, *extra, *errors),
            secret=secret,
        ),
    )
