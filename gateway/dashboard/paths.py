"""The dashboard's paths, by the name of the route that serves them: pages and redirects link
with ``path_for`` (a template's global of the same name), never with a literal path, so a route
moved is moved everywhere and a name mistyped fails the first render (``tests/gateway/dashboard/
test_paths.py`` checks every name the templates use)."""

import functools
from typing import Any

from starlette.routing import Router

__all__ = ["PREFIX", "path_for"]

PREFIX = "/dashboard"


@functools.cache
def _router() -> Router:
    # The routes are the dashboard's own list (``dashboard.routes``), read once, for their paths
    # alone: the router that serves them is ``dashboard.mount``'s.
    from . import routes

    return Router(routes())


def path_for(name: str, /, **params: Any) -> str:
    """The path of the dashboard's route ``name`` with ``params`` in it, from the site's root."""
    return PREFIX + str(_router().url_path_for(name, **params))
