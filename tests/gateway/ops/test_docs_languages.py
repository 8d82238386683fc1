"""The API explorer in the reader's language: ``/docs`` points Swagger UI at the document in
theirs (``openapi.json?lang=``), whose operations' summaries come from the catalogues; the
English document is the one the routes declare, byte for byte, whatever is asked."""

import re
from typing import Any

import httpx
import pytest
from starlette.responses import JSONResponse

from gateway import described
from gateway.api import PREFIX
from gateway.app import create_app
from gateway.values.settings import Settings
from tests.fixtures.html_pages import parsed

SPEC = f"{PREFIX}/openapi.json"
CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
KANA = re.compile(r"[\u3040-\u30ff]")


def _operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    found = [op for methods in spec["paths"].values() for op in methods.values()]
    return found + [hook["post"] for hook in spec["webhooks"].values()]


def _without_words(spec: dict[str, Any]) -> dict[str, Any]:
    """The document with what a translation may change taken out."""
    stripped: dict[str, Any] = {**spec, "info": {**spec["info"], "description": None}}
    for group in ("paths", "webhooks"):
        stripped[group] = {
            path: {
                method: {**op, "summary": None, "description": None}
                for method, op in methods.items()
            }
            for path, methods in spec[group].items()
        }
    return stripped


async def test_the_english_document_is_the_routes_own_whatever_is_asked(
    ops_client: httpx.AsyncClient, settings: Settings
) -> None:
    """No language, English, or one the gateway does not speak: the same bytes, those of the
    document built with no catalogue at all."""
    written = bytes(JSONResponse(described.document(create_app(settings).routes)).body)
    for query in ("", "?lang=en", "?lang=fr", "?lang=ZH", "?lang="):
        reply = await ops_client.get(SPEC + query, headers={"Accept-Language": "zh-CN"})
        assert reply.status_code == 200
        assert reply.content == written, query
    assert not CJK.search(written.decode())


@pytest.mark.parametrize("language", ["zh", "ja"])
async def test_each_operation_reads_in_the_language_asked(
    ops_client: httpx.AsyncClient, language: str
) -> None:
    english = (await ops_client.get(SPEC)).json()
    spec = (await ops_client.get(f"{SPEC}?lang={language}")).json()
    for operation in _operations(spec):
        assert CJK.search(operation["summary"]), operation["operationId"]
    if language == "ja":
        assert all(KANA.search(op["summary"]) for op in _operations(spec)[:10])
    hook = spec["webhooks"]["topup.delivered"]["post"]
    assert "`topup.delivered`" in hook["description"] and CJK.search(hook["description"])
    assert CJK.search(spec["info"]["description"])
    # Only the words: every path, identifier, schema, code and example is the English one's.
    assert _without_words(spec) == _without_words(english)


async def test_a_document_in_another_language_is_served_as_the_same_bytes_each_time(
    ops_client: httpx.AsyncClient,
) -> None:
    first = await ops_client.get(f"{SPEC}?lang=zh")
    again = await ops_client.get(f"{SPEC}?lang=zh")
    assert first.headers["content-type"] == "application/json"
    assert first.content == again.content


@pytest.mark.parametrize(
    ("query", "accept", "language", "tag"),
    [
        ("", "zh-CN,zh;q=0.9,en;q=0.5", "zh", "zh-Hans"),
        ("", "ja", "ja", "ja"),
        ("?lang=ja", "zh-CN", "ja", "ja"),
        ("?lang=zh", "", "zh", "zh-Hans"),
    ],
)
async def test_docs_points_swagger_ui_at_the_readers_document(
    ops_client: httpx.AsyncClient, query: str, accept: str, language: str, tag: str
) -> None:
    """The page's ``?lang=``, else the browser's ``Accept-Language``."""
    reply = await ops_client.get("/docs" + query, headers={"Accept-Language": accept})
    assert reply.status_code == 200
    assert "Accept-Language" in reply.headers["vary"]
    page = parsed(reply.text)
    roots = [attrs for _, attrs in page.tags if attrs.get("id") == "swagger-ui"]
    assert roots == [{"id": "swagger-ui", "data-spec-url": f"{SPEC}?lang={language}"}]
    assert [attrs.get("lang") for name, attrs in page.tags if name == "html"] == [tag]
    spec = (await ops_client.get(roots[0]["data-spec-url"] or "")).json()
    assert CJK.search(spec["paths"][f"{PREFIX}/topup/send"]["post"]["summary"])


async def test_docs_in_english_is_the_page_as_written(ops_client: httpx.AsyncClient) -> None:
    english = await ops_client.get("/docs", headers={"Accept-Language": "en-US,en"})
    assert english.content == (await ops_client.get("/docs/assets/docs.html")).content
    for other in ({"Accept-Language": "fr, de"}, {}):
        assert (await ops_client.get("/docs", headers=other)).content == english.content
