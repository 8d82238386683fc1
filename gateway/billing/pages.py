"""The pages billing serves a payer itself (the sandbox checkout for every channel, the landing
after a checkout, the sandbox's subscription checkout and portal): one Jinja2 shell
(``templates/shell.html``: the dashboard's stylesheet, its header, the staging banner naming the
channel the sandbox stands in for) that each page extends. Autoescaped: a pack's or a plan's
name is never markup.

In the payer's language, as the dashboard's pages are (``values.languages``): the page's own
``?lang=`` (the dashboard sends a signed-in person on with theirs, ``with_language``), else the
browser's ``Accept-Language``, else English; money and times as that language writes them."""

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request

from ..values import languages
from ..values.clock import when
from ..values.languages import Catalogues, Reading
from ..values.marking import marked

__all__ = [
    "LANGUAGE_PARAM",
    "STATUSES",
    "STYLESHEET",
    "moment",
    "reading",
    "render",
    "with_language",
]

# Served by the same gateway, so the pages need no inline style.
STYLESHEET = "/dashboard/static/dashboard.css"
# The query parameter a page's language is picked with, as on the dashboard's signed-out pages.
LANGUAGE_PARAM = "lang"
# An order's and a subscription's states as these pages show them, each translated where shown.
STATUSES = (
    marked("pending"),
    marked("completed"),
    marked("expired"),
    marked("failed"),
    marked("incomplete"),
    marked("active"),
    marked("past_due"),
    marked("canceled"),
)

_PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
)
languages.install(_PAGES)


def reading(request: Request, catalogues: Catalogues) -> Reading:
    """The payer's language: the page's ``?lang=``, else the browser's, else English (no
    session reaches these pages: they are the link's, not the dashboard's)."""
    chosen = languages.choose(
        picked=request.query_params.get(LANGUAGE_PARAM),
        header=request.headers.get("accept-language"),
    )
    return catalogues.reading(chosen)


def with_language(url: str, language: str) -> str:
    """``url`` (a page of these, or a form's action on one) asking for ``language``; English,
    the default, adds nothing."""
    if languages.known(language) is None or language == languages.DEFAULT:
        return url
    return f"{url}{'&' if '?' in url else '?'}{LANGUAGE_PARAM}={quote(language)}"


def moment(at: datetime, now: datetime, reading: Reading) -> str:
    """A time as the dashboard writes it for ``reading``'s language (``clock.when`` in English)."""
    if reading.language == languages.DEFAULT:
        return when(at, now)
    return languages.moment_in(at, now, reading.language)


def render(page: str, *, title: str, env: str, reading: Reading, **values: Any) -> str:
    """``page`` (a template extending the shell) with ``values``, in ``reading``'s language;
    ``channel`` and ``channel_title`` name the channel a page stands in for, ``stand_in`` shows
    the banner."""
    values.setdefault("channel", None)
    values.setdefault("channel_title", None)
    values.setdefault("stand_in", False)
    return _PAGES.get_template(page).render(
        title=title, env=env, stylesheet=STYLESHEET, **values, **reading.context()
    )
