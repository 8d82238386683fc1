"""A plain ``tools/call`` POST is answered without the SDK's per-request session
(``gateway/mcp/_fastpath.py``); its replies must stay the SDK's own. A ``_meta`` in the params
sends the same call through the SDK, so the two can be compared: this fails when the library
changes what it answers."""

import json
import re
from typing import Any

import httpx
import pytest

from tests.fixtures.core import local_client
from tests.fixtures.mcp import send_args
from tests.fixtures.merchants import MakeMerchant

_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
ACCEPT = "application/json, text/event-stream"


def _call(name: str, arguments: dict[str, Any], *, through_sdk: bool) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if through_sdk:
        params["_meta"] = {"progressToken": "p1"}
    return {"jsonrpc": "2.0", "id": "call-1", "method": "tools/call", "params": params}


async def _both(root: str, key: str, name: str, arguments: dict[str, Any]) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {key}", "Accept": ACCEPT}
    async with local_client() as http:
        return [
            await http.post(
                f"{root}/mcp", json=_call(name, arguments, through_sdk=sdk), headers=headers
            )
            for sdk in (False, True)
        ]


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("get_balance", {}),
        ("get_balance", {"extra": 1}),
        ("list_topups", {"limit": 3}),
        ("get_topup", {"transaction_id": "txn_" + "0" * 24}),
        ("no_such_tool", {}),
        ("send_topup", send_args("fast-1")),  # the second is its replay
    ],
)
async def test_the_fast_path_answers_as_the_sdk_does(
    mcp_root: str, make_merchant: MakeMerchant, name: str, arguments: dict[str, Any]
) -> None:
    merchant = await make_merchant()
    fast, sdk = await _both(mcp_root, merchant.key, name, arguments)
    assert fast.status_code == sdk.status_code == 200
    assert fast.headers["content-type"] == sdk.headers["content-type"] == "application/json"
    fast_json, sdk_json = fast.json(), sdk.json()
    if name == "send_topup":
        assert fast_json["result"].pop("_meta", None) is None
        assert sdk_json["result"].pop("_meta") == {"idempotent_replayed": True}
        assert fast_json == sdk_json
    else:
        assert _STAMP.sub("T", fast.text) == _STAMP.sub("T", sdk.text)
    assert (
        json.loads(fast_json["result"]["content"][0]["text"])
        == (fast_json["result"]["structuredContent"])
    )


async def test_what_the_fast_path_does_not_take_goes_to_the_sdk(
    mcp_root: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    auth = {"Authorization": f"Bearer {merchant.key}"}
    async with local_client(base_url=mcp_root) as http:
        call = _call("get_balance", {}, through_sdk=False)
        not_acceptable = await http.post("/mcp", json=call, headers={**auth, "Accept": "text/html"})
        assert not_acceptable.status_code == 406
        old = await http.post(
            "/mcp", json=call, headers={**auth, "Accept": ACCEPT, "MCP-Protocol-Version": "1999"}
        )
        assert old.status_code == 400
        too_big = await http.post(
            "/mcp",
            json=_call("get_balance", {"pad": "x" * 70_000}, through_sdk=False),
            headers={**auth, "Accept": ACCEPT},
        )
        assert too_big.status_code == 413
        broken = await http.post(
            "/mcp",
            content=b"{not json",
            headers={**auth, "Accept": ACCEPT, "Content-Type": "application/json"},
        )
        assert broken.status_code == 400
        assert broken.json()["error"]["code"] == -32700
        listed = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 7, "method": "tools/list"},
            headers={**auth, "Accept": ACCEPT},
        )
        assert listed.status_code == 200
        assert "send_topup" in {t["name"] for t in listed.json()["result"]["tools"]}
