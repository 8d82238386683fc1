"""A card of a dashboard page whose forms post, act and send the browser back to the page (post,
redirect, get): the redirect's query names which of the card's fixed sentences to show, so no
text a visitor typed or a service said is ever carried in a link. The Wallet page's cards (the
check-in, the test clock, low-balance alerts, auto top-up, payer keys) are each one."""

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..values.code_names import Code
from ..values.outcome import ApiError
from .context import Viewer, require_viewer
from .csrf import form
from .paths import path_for

__all__ = ["Act", "Card", "Endpoint"]

# What a form of a card does once its viewer and form are read: the notice to go back with, or
# a response of its own (a provider's page to go to).
Act = Callable[[Request, Viewer, FormData], Awaitable[str | Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class Card:
    """A card on the page of route ``page``: ``?{name}=`` in its redirects names one of ``said``
    (set only by them), and ``#{anchor}`` takes the browser back to the card. A service's
    refusal whose code is in ``refusals`` goes back with its notice; any other is the
    dashboard's error page."""

    page: str
    name: str
    said: Mapping[str, str]
    refusals: Mapping[Code, str] = field(default_factory=dict)
    anchor: str = ""

    def notice(self, request: Request) -> str | None:
        """The sentence the redirect named, if it named one of the card's."""
        return self.said.get(request.query_params.get(self.name, ""))

    def back(self, notice: str) -> RedirectResponse:
        at = f"#{self.anchor}" if self.anchor else ""
        return RedirectResponse(f"{path_for(self.page)}?{self.name}={notice}{at}", 303)

    def posted(self, act: Act, *, invalid: str | None = None) -> Endpoint:
        """The endpoint of a form of the card, named as ``act``: the viewer allowed it and the
        form (its CSRF token checked) read, then ``act``. A refusal in ``refusals`` goes back
        with its notice; with ``invalid``, so does what a request model refuses (pydantic's
        ``ValidationError``), else it is the error page."""

        @functools.wraps(act)
        async def endpoint(request: Request) -> Response:
            viewer = await require_viewer(request)
            data = await form(request)
            try:
                done = await act(request, viewer, data)
            except ApiError as exc:
                if exc.code not in self.refusals:
                    raise
                return self.back(self.refusals[exc.code])
            except ValidationError:
                if invalid is None:
                    raise
                return self.back(invalid)
            return done if isinstance(done, Response) else self.back(done)

        return endpoint
