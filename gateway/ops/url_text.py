"""A URL whose path or query decodes to a NUL is refused before any route reads it.

Routes read path and query parameters in many ways (``parsing.read_query``, a page's own
``query_params``, a path parameter looked up by id); this one guard, for every door, keeps a
NUL from reaching a statement PostgreSQL would refuse with a 500 (``values.text``). The OAuth
endpoints answer in OAuth's error shape (RFC 6749 5.2), every other door with the envelope but
those under ``own_words``: a door answering in another API's shape (New API's paths), which
takes no path parameter and reads its query through ``parsing.read_query``, refuses there in
its own shape.
"""

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..values.code_names import Code
from ..values.envelope import Envelope
from ..values.text import NUL, query_holds_nul

__all__ = ["OAUTH_NUL_REFUSAL", "UrlText"]

_OAUTH_PREFIX = "/oauth/"
OAUTH_NUL_REFUSAL = {
    "error": "invalid_request",
    "error_description": "the request contains a NUL character",
}


class UrlText:
    def __init__(self, app: ASGIApp, *, own_words: tuple[str, ...] = ()) -> None:
        self.app = app
        self.own_words = tuple(prefix.rstrip("/") + "/" for prefix in own_words)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"].startswith(self.own_words)
            or not (NUL in scope["path"] or query_holds_nul(scope.get("query_string", b"")))
        ):
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(_OAUTH_PREFIX):
            refusal = JSONResponse(
                OAUTH_NUL_REFUSAL, status_code=400, headers={"Cache-Control": "no-store"}
            )
            await refusal(scope, receive, send)
            return
        await Envelope(Code.TEXT_HOLDS_NUL)(scope, receive, send)
