"""``/changelog``: the changelog the gateway was built with, as a page a person reads.

The text is Markdown kept in the package (``changelog.md``; the repository's ``CHANGELOG.md``
links to it). It is rendered by markdown-it-py with raw HTML off, so nothing written in it
reaches the page as markup, and each heading gets an ``id`` to link to. The page has no inline
script or style: its one stylesheet is served beside the API explorer's (``docs_assets``), under
the same Content-Security-Policy.
"""

import re
from functools import cache
from importlib.resources import files
from itertools import pairwise
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from markdown_it.token import Token

__all__ = ["markdown", "page", "render", "slug"]

_TITLE = "aiTopUp gateway changelog"
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


@cache
def markdown() -> bytes:
    """The text as written."""
    return files("gateway.ops").joinpath("changelog.md").read_bytes()


def slug(text: str) -> str:
    """A heading's anchor: its words in lower case, joined by hyphens."""
    return _NOT_SLUG.sub("-", text.lower()).strip("-") or "section"


def _with_anchors(tokens: list["Token"]) -> None:
    """An ``id`` on each heading, unique on the page (``unreleased``, ``added``, ``added-2``…),
    so a release or a section can be linked to."""
    taken: dict[str, int] = {}
    for opening, inline in pairwise(tokens):
        if opening.type != "heading_open":
            continue
        base = slug(inline.content)
        taken[base] = taken.get(base, 0) + 1
        opening.attrSet("id", base if taken[base] == 1 else f"{base}-{taken[base]}")


@cache
def page() -> bytes:
    """The changelog's page, rendered once: the text cannot change while the app runs."""
    return render(markdown().decode())


def render(text: str) -> bytes:
    """The page of Markdown ``text``."""
    # Imported on the first request for the page, not as the gateway starts (its ~40 modules
    # count against the start's bound, ``tests/test_imports.py``).
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(text)
    _with_anchors(tokens)
    body = md.renderer.render(tokens, md.options, {})
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_TITLE}</title>
<link rel="stylesheet" href="/docs/assets/changelog.css">
</head>
<body>
<header class="docs-bar">
<strong>aiTopUp gateway</strong>
<nav aria-label="Reference">
<a href="/docs">API explorer</a>
<a href="/llms.txt">llms.txt</a>
<a href="/changelog.md">changelog.md</a>
<a href="/dashboard/">Dashboard</a>
</nav>
</header>
<main class="changelog">
{body}</main>
</body>
</html>
""".encode()
