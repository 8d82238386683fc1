"""The pages billing serves a payer itself (the sandbox checkout for every channel, the landing
after a checkout, the sandbox's subscription checkout and portal): one Jinja2 shell
(``templates/shell.html``: the dashboard's stylesheet, its header, the staging banner naming the
channel the sandbox stands in for) that each page extends. Autoescaped: a pack's or a plan's
name is never markup."""

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

__all__ = ["STYLESHEET", "render"]

# Served by the same gateway, so the pages need no inline style.
STYLESHEET = "/dashboard/static/dashboard.css"

_PAGES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
)


def render(page: str, *, title: str, env: str, **values: Any) -> str:
    """``page`` (a template extending the shell) with ``values``; ``channel`` and
    ``channel_title`` name the channel a page stands in for, ``stand_in`` shows the banner."""
    values.setdefault("channel", None)
    values.setdefault("channel_title", None)
    values.setdefault("stand_in", False)
    return _PAGES.get_template(page).render(title=title, env=env, stylesheet=STYLESHEET, **values)
