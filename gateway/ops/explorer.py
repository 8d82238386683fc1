"""``/docs``: Swagger UI over the OpenAPI document, every byte of it served by the gateway.

Swagger UI is the ``swagger-ui-dist`` release vendored unchanged in ``docs_assets/swagger-ui``
(its licence and checksums beside it). The page and its initialiser are static files of ours
under ``docs_assets``: no inline script or style and no URL of another site, so ``/docs`` works
on a machine with no internet access and under a Content-Security-Policy of
``script-src 'self'``.

A reader of another language than English gets the same page pointed at the document in theirs
(``openapi.json?lang=zh``: its operations' summaries from the catalogues), with ``<html lang>``
to match; Swagger UI's own labels stay its own, in English.
"""

from functools import cache
from pathlib import Path

from starlette.staticfiles import StaticFiles

from ..values import languages

__all__ = ["ASSETS", "ASSETS_PATH", "LANGUAGE_PARAM", "assets_app", "page", "spec_url"]

ASSETS = Path(__file__).with_name("docs_assets")
ASSETS_PATH = "/docs/assets"
# ``/docs?lang=`` and ``openapi.json?lang=``: the language asked for by name.
LANGUAGE_PARAM = "lang"
_SPEC = "/api/public/v1/openapi.json"


def spec_url(language: str) -> str:
    """Where the document in ``language`` is: the English one's own address for English."""
    if language == languages.DEFAULT:
        return _SPEC
    return f"{_SPEC}?{LANGUAGE_PARAM}={language}"


@cache
def page(language: str = languages.DEFAULT) -> bytes:
    """The page's bytes for a reader of ``language``, made once each: the file cannot change
    while the app runs. English is the file as it is."""
    written = (ASSETS / "docs.html").read_bytes()
    if language == languages.DEFAULT:
        return written
    root = f'data-spec-url="{_SPEC}"'.encode()
    tag = f'<html lang="{languages.DEFAULT}">'.encode()
    # The file names each once: a page edited so that it does not fails here, not silently.
    assert written.count(root) == 1 and written.count(tag) == 1
    return written.replace(root, f'data-spec-url="{spec_url(language)}"'.encode()).replace(
        tag, f'<html lang="{languages.html_lang(language)}">'.encode()
    )


def assets_app() -> StaticFiles:
    """Serves Swagger UI's files and ours; an unknown name gets the 404 envelope."""
    return StaticFiles(directory=ASSETS)
