"""Routes that carry their own description: the request and reply models they validate with and
the codes they answer with. The OpenAPI document is built from these, so it cannot drift."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from ..values.code_names import Code
from ..values.parsing import FORMS_TAKEN

__all__ = [
    "BODY_ERRORS",
    "CURSOR_ERRORS",
    "KEY_ERRORS",
    "ApiRoute",
    "HeaderDoc",
    "RouteDoc",
]

# ``signed``: no credential but a sender's signature, in the header ``signature_header`` names.
Auth = Literal["key", "admin", "none", "signed"]

# What any route behind an API key may answer before it runs.
KEY_ERRORS = (
    Code.AUTH_MISSING,
    Code.AUTH_MALFORMED,
    Code.AUTH_UNKNOWN,
    Code.AUTH_REVOKED,
    Code.AUTH_HEADER_REPEATED,
    Code.AUTH_RATE_LIMITED,
    Code.KEY_EXPIRED,
    Code.KEY_RATE_LIMITED,
    Code.KEY_SCOPE_MISSING,
    Code.ENVIRONMENT_FROZEN,
)
# What any route reading a JSON body (``parsing.read_json``) may answer.
BODY_ERRORS = (
    Code.VALIDATION_FAILED,
    Code.INVALID_JSON,
    Code.DUPLICATE_JSON_KEY,
    Code.JSON_TOO_DEEP,
    Code.UNSUPPORTED_MEDIA_TYPE,
    Code.BODY_TOO_LARGE,
)
# What any list paged by cursor (``parsing.check_cursor``, ``parsing.read_query``) may answer.
CURSOR_ERRORS = (Code.INVALID_CURSOR, Code.INVALID_QUERY)


@dataclass(frozen=True, slots=True)
class HeaderDoc:
    """A header of a paid retry beside the envelope, as a payment protocol names it: read
    ``on`` the request (a credential), or written on a refusal for funds (an offer) or on a
    success (a receipt)."""

    name: str
    description: str
    on: Literal["request", "refusal", "success"]


@dataclass(frozen=True, slots=True)
class RouteDoc:
    summary: str
    tag: str
    auth: Auth = "key"
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    # The model of ``data`` in a successful reply; ``many`` for lists (``data`` is an array).
    response: type[BaseModel] | None = None
    many: bool = False
    success: Code = Code.SUCCESS
    errors: Sequence[Code] = field(default_factory=tuple)
    # The reply carries a secret meant for this caller alone (a voucher, an API key, a whsec_
    # secret, redemption codes, a checkout link): no cache on the way may keep a copy.
    secret: bool = False
    # A door that answers in another API's shape (New API's own paths): its replies' models by
    # HTTP status, described as they are, in place of the envelope and its codes.
    replies: Mapping[int, Sequence[type[BaseModel]]] | None = None
    # A ``signed`` route's signature header, as the sender names it.
    signature_header: str | None = None
    # The body may be a form (application/x-www-form-urlencoded) as well as JSON: a path other
    # APIs' clients post forms to. ``ApiRoute`` marks the request so ``parsing.read_json``
    # reads one, and the OpenAPI document lists the form beside JSON: one declaration for both.
    forms: bool = False
    # The route takes a paid retry (``protocols.paid``): a refusal for funds carries each
    # protocol's offer and the same request retried with a credential is paid once. The
    # OpenAPI document lists each protocol's headers (``HeaderDoc``) on it.
    paid: bool = False


_NO_STORE = (b"cache-control", b"no-store")


class ApiRoute(Route):
    def __init__(
        self, path: str, endpoint: Callable[..., Any], *, methods: list[str], doc: RouteDoc
    ) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.doc = doc

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A secret route's replies say ``Cache-Control: no-store``: set here, for every
        secret route and every reply of one, so no route can forget it."""
        if self.doc.forms:
            scope[FORMS_TAKEN] = True
        if not self.doc.secret:
            await super().handle(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                kept = [h for h in message.get("headers", ()) if h[0].lower() != _NO_STORE[0]]
                message["headers"] = [*kept, _NO_STORE]
            await send(message)

        await super().handle(scope, receive, send_no_store)
