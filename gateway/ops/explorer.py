"""``/docs``: Swagger UI over the OpenAPI document, every byte of it served by the gateway.

Swagger UI is the ``swagger-ui-dist`` release vendored unchanged in ``docs_assets/swagger-ui``
(its licence and checksums beside it). The page and its initialiser are static files of ours
under ``docs_assets``: no inline script or style and no URL of another site, so ``/docs`` works
on a machine with no internet access and under a Content-Security-Policy of
``script-src 'self'``.
"""

from functools import cache
from pathlib import Path

from starlette.staticfiles import StaticFiles

__all__ = ["ASSETS", "ASSETS_PATH", "assets_app", "page"]

ASSETS = Path(__file__).with_name("docs_assets")
ASSETS_PATH = "/docs/assets"


@cache
def page() -> bytes:
    """The page's bytes, read once: the file cannot change while the app runs."""
    return (ASSETS / "docs.html").read_bytes()


def assets_app() -> StaticFiles:
    """Serves Swagger UI's files and ours; an unknown name gets the 404 envelope."""
    return StaticFiles(directory=ASSETS)
