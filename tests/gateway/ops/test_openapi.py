"""The spec covers every route the app mounts, and the guide comes from it."""

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route

from gateway.app import create_app
from gateway.ops import guide, openapi
from gateway.ops.routing import ApiRoute
from gateway.values.code_names import Code
from gateway.values.codes import CATALOGUE
from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, running_app
from tests.fixtures.openapi import reply_of

# Served beside the API, not part of it: the spec itself, its explorer, the guide, the scrape,
# the MCP door (JSON-RPC, described by its own tools/list), and the dashboard's pages.
NOT_DESCRIBED = {
    "/api/public/v1/openapi.json",
    "/docs",
    "/llms.txt",
    "/changelog",
    "/changelog.md",
    "/metrics",
    "/mcp",
}
# The dashboard, and the OAuth protocol endpoints, which RFC 8414 metadata describes.
NOT_DESCRIBED_UNDER = ("/dashboard", "/oauth/", "/.well-known/")
# Described in another API's shape than the envelope: New API's top-up paths.
OWN_SHAPES_UNDER = ("/api/user/",)


def _walk(routes: list[BaseRoute], prefix: str = "") -> list[tuple[str, Route]]:
    found: list[tuple[str, Route]] = []
    for route in routes:
        if isinstance(route, Mount):
            found += _walk(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            found.append((prefix + route.path, route))
    return found


def test_every_route_the_app_mounts_is_in_the_spec(settings: Settings) -> None:
    app = create_app(settings)
    spec = openapi.build(app.routes)
    mounted = _walk(app.routes)
    assert mounted
    for path, route in mounted:
        if path in NOT_DESCRIBED or path.startswith(NOT_DESCRIBED_UNDER):
            continue
        assert isinstance(route, ApiRoute), f"{path} has no RouteDoc"
        for method in (route.methods or set()) - {"HEAD"}:
            assert method.lower() in spec["paths"].get(path, {}), f"{method} {path} not in spec"


async def test_the_spec_is_served_and_well_formed(ops_client: httpx.AsyncClient) -> None:
    reply = await ops_client.get("/api/public/v1/openapi.json")
    assert reply.status_code == 200
    spec: dict[str, Any] = reply.json()
    assert spec["openapi"] == "3.1.0"
    assert spec["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    op_ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(op_ids) == len(set(op_ids))

    send = spec["paths"]["/api/public/v1/topup/send"]["post"]
    assert send["security"] == [{"apiKey": []}]
    assert send["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SendRequest"
    }
    ok = send["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["properties"]["data"] == {"$ref": "#/components/schemas/SendData"}
    assert ok["properties"]["code"] == {"const": 1001}
    assert send["responses"]["202"]["content"]["application/json"]["schema"]["properties"][
        "success"
    ] == {"const": True}
    unauthorized = reply_of(spec, send, "401")["content"]["application/json"]["schema"]
    assert unauthorized["properties"]["code"]["enum"] == [2001, 2002, 2003, 2004, 2302]
    assert "500" in send["responses"]
    assert any(p["name"] == "Idempotency-Key" for p in send["parameters"])

    listing = spec["paths"]["/api/public/v1/topup"]["get"]
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["properties"]["data"]["type"] == "array"
    assert "meta" in page["required"]
    assert {p["name"] for p in listing["parameters"]} == {"limit", "cursor"}

    # Every documented code is in the catalogue, under the status the catalogue gives it. New
    # API's own paths answer in New API's shape, which has no code.
    for path, item in spec["paths"].items():
        if path.startswith(OWN_SHAPES_UNDER):
            continue
        for op in item.values():
            for status in op["responses"]:
                response = reply_of(spec, op, status)
                code = response["content"]["application/json"]["schema"]["properties"]["code"]
                for number in code.get("enum", [code.get("const")]):
                    assert CATALOGUE[Code(number)].http_status == int(status)


def test_each_refusal_is_written_once_and_referenced(settings: Settings) -> None:
    """Most operations refuse with the same few sets of codes: each set is one reply under
    ``components/responses``, which every operation refers to, so the document Swagger UI draws
    at /docs is not mostly the same refusals over again."""
    spec = openapi.build(create_app(settings).routes)
    shared = spec["components"]["responses"]
    referred: Counter[str] = Counter()
    for path, item in spec["paths"].items():
        if path.startswith(OWN_SHAPES_UNDER):
            continue
        for op in item.values():
            for status, reply in op["responses"].items():
                if int(status) < 400:
                    assert "$ref" not in reply  # a success's data is the operation's own
                    continue
                assert set(reply) == {"$ref"}, (path, status)
                referred[reply["$ref"].rsplit("/", 1)[-1]] += 1
    assert set(referred) == set(shared)
    bodies = [json.dumps(reply, sort_keys=True) for reply in shared.values()]
    assert len(set(bodies)) == len(bodies)  # none written twice under two names
    assert sum(referred.values()) > 3 * len(shared)  # and each is shared widely


async def test_llms_txt_gives_the_three_calls_the_envelope_and_every_code(
    ops_client: httpx.AsyncClient,
) -> None:
    reply = await ops_client.get("/llms.txt")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    text = reply.text
    for call in (
        "POST /api/public/v1/topup/send",
        "GET /api/public/v1/topup/{txn_id}",
        "GET /api/public/v1/balance",
    ):
        assert call in text
    assert "Idempotency-Key" in text
    assert '"transaction_id"' in text
    for code, info in CATALOGUE.items():
        assert f"{int(code)}  {info.http_status}   {code.name}: {info.message}" in text


async def test_the_spec_and_the_guide_are_built_once(
    ops_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: Counter[str] = Counter()

    def counted(module: Any, name: str) -> None:
        real: Callable[..., Any] = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            built[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, wrapper)

    counted(openapi, "build")
    counted(guide, "llms_txt")
    paths = ("/docs", "/llms.txt", "/api/public/v1/openapi.json")
    async with running_app(ops_settings) as app, asgi_client(app, "http://gateway.test") as http:
        first = [(await http.get(path)).content for path in paths]
        again = [(await http.get(path)).content for path in (*paths, *paths)]
    assert built == {"build": 1, "llms_txt": 1}
    assert again == first + first


async def test_the_send_reply_says_whose_balance_each_figure_is(
    ops_client: httpx.AsyncClient,
) -> None:
    spec = (await ops_client.get("/api/public/v1/openapi.json")).json()
    fields = spec["components"]["schemas"]["SendData"]["properties"]
    assert "recipient's balance" in fields["new_balance_cents"]["description"]
    assert "merchant's own wallet" in fields["wallet_balance_cents"]["description"]


async def test_the_routes_paid_on_retry_describe_each_protocols_headers(
    ops_client: httpx.AsyncClient,
) -> None:
    """A send and an app's charge take a paid retry: the credential headers they read, the
    offers a refusal for funds carries, the receipts a paid success carries. A route that
    takes none (a payment to a seller) lists none of them."""
    spec = (await ops_client.get("/api/public/v1/openapi.json")).json()
    offers = {"WWW-Authenticate", "PAYMENT-REQUIRED"}
    for path, success in (("/topup/send", "200"), ("/charges", "201")):
        op = spec["paths"][f"/api/public/v1{path}"]["post"]
        read = {p["name"]: p for p in op["parameters"] if p["in"] == "header"}
        assert {"Payment-Authorization", "PAYMENT-SIGNATURE"} <= set(read), path
        assert not read["Payment-Authorization"]["required"]
        refused = op["responses"]["402"]["$ref"].rsplit("/", 1)[1]
        assert offers <= set(spec["components"]["responses"][refused]["headers"]), path
        assert {"Payment-Receipt", "PAYMENT-RESPONSE"} <= set(op["responses"][success]["headers"])
    pay = spec["paths"]["/api/public/v1/payments"]["post"]
    assert {p["name"] for p in pay["parameters"]} == {"Idempotency-Key"}
    for reply in pay["responses"].values():
        shared = reply.get("$ref", "").rsplit("/", 1)[-1]
        shown = spec["components"]["responses"].get(shared, reply)
        assert not offers & set(shown.get("headers", {}))
