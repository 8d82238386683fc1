"""The dashboard's paths, by the name of the route that serves them: pages and redirects link
with ``path_for`` (a template's global of the same name), never with a literal path, so a route
moved is moved everywhere and a name mistyped fails the first render (``tests/gateway/dashboard/
test_paths.py`` checks every name the templates use)."""

import functools
from collections.abc import Callable
from typing import Any

from starlette.routing import BaseRoute, Router

__all__ = ["PREFIX", "path_for", "use"]

PREFIX = "/dashboard"

_routes: Callable[[], list[BaseRoute]] | None = None


def use(routes: Callable[[], list[BaseRoute]]) -> None:
    """The dashboard's routes (``dashboard.routes``), named once the package has imported its
    pages: the pages import this module, so it cannot import them."""
    global _routes
    _routes = routes
    _router.cache_clear()


@functools.cache
def _router() -> Router:
    # Read once, for their paths alone: the router that serves them is ``dashboard.mount``'s.
    if _routes is None:
        raise RuntimeError("the dashboard's routes are not named yet: import gateway.dashboard")
    return Router(_routes())


def path_for(name: str, /, **params: Any) -> str:
    """The path of the dashboard's route ``name`` with ``params`` in it, from the site's root."""
    return PREFIX + str(_router().url_path_for(name, **params))
