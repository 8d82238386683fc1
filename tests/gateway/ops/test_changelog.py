"""The changelog, served: the text the repository keeps, as the gateway was built with it, as a
page a person reads at ``/changelog`` and as written at ``/changelog.md``; linked from the API
explorer and every dashboard page."""

import re
from pathlib import Path

import httpx

from gateway.ops import changelog_page

REPOSITORY_CHANGELOG = Path(__file__).parents[3] / "CHANGELOG.md"


async def test_the_changelog_is_served_as_the_repository_keeps_it(
    ops_client: httpx.AsyncClient,
) -> None:
    reply = await ops_client.get("/changelog.md")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/markdown; charset=utf-8"
    assert reply.content == REPOSITORY_CHANGELOG.read_bytes()
    assert reply.text.startswith("# Changelog\n") and "## Version policy" in reply.text


async def test_the_changelog_is_a_page_rendered_from_that_text(
    ops_client: httpx.AsyncClient,
) -> None:
    reply = await ops_client.get("/changelog")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    # An HTML page of the gateway's: under its Content-Security-Policy, no inline style.
    assert "script-src 'self'" in reply.headers["content-security-policy"]
    page = reply.text
    assert page.startswith("<!doctype html>") and "<style" not in page and "<script" not in page
    assert '<h1 id="changelog">Changelog</h1>' in page
    assert '<h2 id="version-policy">Version policy</h2>' in page
    # Every heading of the text is on the page, each with an id of its own to link to.
    headings = re.findall(r"^#{1,6} (.+)$", REPOSITORY_CHANGELOG.read_text(), re.M)
    ids = re.findall(r'<h[1-6] id="([^"]+)">', page)
    assert len(ids) == len(headings) and len(set(ids)) == len(ids)
    assert "<code>/api/public/v1</code>" in page  # Markdown rendered, not shown as typed
    stylesheet = await ops_client.get("/docs/assets/changelog.css")
    assert stylesheet.status_code == 200 and ".changelog" in stylesheet.text


def test_markup_written_in_the_text_is_shown_never_run() -> None:
    """Raw HTML in the Markdown reaches the page escaped: the text is not a way in."""
    rendered = changelog_page.render("# Log\n\n<script>alert(1)</script> <b>x</b>\n").decode()
    assert "<script>alert" not in rendered and "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered
    assert "<b>x</b>" not in rendered and '<h1 id="log">Log</h1>' in rendered


async def test_the_explorer_links_to_the_changelog(ops_client: httpx.AsyncClient) -> None:
    docs = await ops_client.get("/docs")
    assert '<a href="/changelog">Changelog</a>' in docs.text
