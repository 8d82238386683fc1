"""``/docs`` is Swagger UI, served whole by the gateway: no inline script, no other site."""

import hashlib
import re
from typing import Any

import httpx

from gateway.api import PREFIX
from gateway.ops import explorer
from tests.fixtures.html_pages import Page, parsed

_URL = re.compile(r"https?://", re.IGNORECASE)


def _linked(page: Page) -> list[str]:
    return [
        url
        for tag, attrs in page.tags
        for name in ("src", "href")
        if (url := attrs.get(name)) is not None and tag in ("script", "link")
    ]


async def test_docs_serves_swagger_ui_over_the_spec(ops_client: httpx.AsyncClient) -> None:
    reply = await ops_client.get("/docs")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    page = parsed(reply.text)
    roots = [attrs for tag, attrs in page.tags if attrs.get("id") == "swagger-ui"]
    assert roots == [{"id": "swagger-ui", "data-spec-url": f"{PREFIX}/openapi.json"}]
    scripts = [attrs.get("src") for tag, attrs in page.tags if tag == "script"]
    assert scripts == [f"{explorer.ASSETS_PATH}/swagger-ui/swagger-ui-bundle.js",
                       f"{explorer.ASSETS_PATH}/docs.js"]  # fmt: skip


async def test_the_page_has_no_inline_script_or_style_and_names_no_other_site(
    ops_client: httpx.AsyncClient,
) -> None:
    """What a CSP of ``script-src 'self'`` (and no inline style) lets through, and nothing a
    machine without internet access would miss."""
    text = (await ops_client.get("/docs")).text
    page = parsed(text)
    assert page.inline == []
    assert not [attrs for _, attrs in page.tags if "style" in attrs]
    assert not [attrs for _, attrs in page.tags if any(n.startswith("on") for n in attrs)]
    assert not _URL.search(text)
    initialiser = (await ops_client.get(f"{explorer.ASSETS_PATH}/docs.js")).text
    assert not _URL.search(initialiser)
    assert "validatorUrl: null" in initialiser  # else Swagger UI fetches a badge from elsewhere


async def test_every_asset_the_page_names_is_served_by_the_gateway(
    ops_client: httpx.AsyncClient,
) -> None:
    page = parsed((await ops_client.get("/docs")).text)
    linked = _linked(page)
    assert len(linked) == 5  # the icon, two stylesheets, two scripts
    kinds = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for url in linked:
        assert url.startswith(f"{explorer.ASSETS_PATH}/"), url
        reply = await ops_client.get(url)
        assert reply.status_code == 200, url
        assert reply.content
        media = reply.headers["content-type"].split(";")[0]
        assert media == kinds[url[url.rindex(".") :]], url


async def test_an_unknown_asset_gets_the_404_envelope(ops_client: httpx.AsyncClient) -> None:
    for path in ("/docs/assets/nothing.js", "/docs/assets/../app.py", "/docs/assets/"):
        reply = await ops_client.get(path)
        assert reply.status_code == 404, path
        assert reply.json()["code"] == 3007


def test_swagger_ui_is_the_published_release_unchanged() -> None:
    """The vendored files are byte for byte those of the swagger-ui-dist release their
    checksum list names, so updating it is a copy, never an edit."""
    folder = explorer.ASSETS / "swagger-ui"
    listed = [
        line.split()
        for line in (folder / "SHA256SUMS").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    names = {name for _, name in listed}
    assert {"LICENSE", "NOTICE", "swagger-ui-bundle.js", "swagger-ui.css"} <= names
    assert names == {p.name for p in folder.iterdir()} - {"SHA256SUMS"}
    for digest, name in listed:
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name


async def test_the_spec_declares_the_bearer_scheme_authorize_fills(
    ops_client: httpx.AsyncClient,
) -> None:
    spec: dict[str, Any] = (await ops_client.get(f"{PREFIX}/openapi.json")).json()
    scheme = spec["components"]["securitySchemes"]["apiKey"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert spec["paths"][f"{PREFIX}/balance"]["get"]["security"] == [{"apiKey": []}]
