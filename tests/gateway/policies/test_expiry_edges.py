"""A policy's ``expires_at`` at the edges of the calendar, on every door that takes a policy (the
REST keys routes, the admin API, the CLI): a clear refusal (422, 3001; the CLI's one line and
exit 2), never a 500 or a traceback, and nothing made or changed. The dashboard's form is in
``tests/gateway/dashboard/test_key_policy_expiry.py``."""

import json
import uuid
from pathlib import Path

import httpx
import pytest

from gateway.values.settings import Settings
from tests.fixtures.commands import aitopup
from tests.fixtures.merchants import MakeMerchant

# Past the range the gateway keeps (1970 to before 9999, UTC), unparseable as a datetime, or
# with an offset that has no UTC form at all.
EDGES = [
    "9999-12-31T23:59:59Z",
    "9999-06-01T00:00:00Z",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "10000-01-01T00:00:00Z",
    "9999-12-31T23:00:00-05:00",
    "0001-01-01T00:00:00+05:00",
]


@pytest.mark.parametrize("moment", EDGES)
async def test_rest_refuses_an_edge_expiry(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, moment: str
) -> None:
    owner = await make_merchant()
    made = await client.post(
        "/keys", json={"policy": {"expires_at": moment}}, headers=owner.headers
    )
    assert (made.status_code, made.json()["code"]) == (422, 3001), made.text
    assert made.json()["data"]["errors"][0]["loc"][-1] == "expires_at"
    listed = await client.get("/keys", headers=owner.headers)
    assert len(listed.json()["data"]) == 1  # the owner's own key alone
    own = listed.json()["data"][0]["id"]
    changed = await client.patch(
        f"/keys/{own}", json={"policy": {"expires_at": moment}}, headers=owner.headers
    )
    assert (changed.status_code, changed.json()["code"]) == (422, 3001), changed.text
    after = await client.get("/keys", headers=owner.headers)
    # Unchanged but for ``usage``, which counts these very requests of the owner's key.
    assert [{**k, "usage": None} for k in after.json()["data"]] == [
        {**k, "usage": None} for k in listed.json()["data"]
    ]


@pytest.mark.parametrize("moment", EDGES)
async def test_the_admin_api_refuses_an_edge_expiry(
    admin_client: httpx.AsyncClient, moment: str
) -> None:
    reply = await admin_client.post("/merchants", json={"name": f"edges-{uuid.uuid4().hex}"})
    merchant_id = reply.json()["data"]["id"]
    made = await admin_client.post(
        f"/merchants/{merchant_id}/keys",
        json={"env": "staging", "policy": {"expires_at": moment}},
    )
    assert (made.status_code, made.json()["code"]) == (422, 3001), made.text
    reply = await admin_client.post(f"/merchants/{merchant_id}/keys", json={"env": "staging"})
    key_id = reply.json()["data"]["id"]
    changed = await admin_client.patch(
        f"/merchants/{merchant_id}/keys/{key_id}", json={"policy": {"expires_at": moment}}
    )
    assert (changed.status_code, changed.json()["code"]) == (422, 3001), changed.text
    listed = (await admin_client.get(f"/merchants/{merchant_id}/keys")).json()["data"]
    assert [k["policy"]["expires_at"] for k in listed] == [None]


@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "9999-12-31T23:00:00-05:00"]
)
async def test_the_cli_refuses_an_edge_expiry(
    settings: Settings, tmp_path: Path, moment: str
) -> None:
    policy = json.dumps({"expires_at": moment})
    code, out, err = await aitopup(
        settings,
        tmp_path,
        "keys",
        "create",
        "--env",
        "staging",
        "--merchant",
        f"cli-edges-{tmp_path.name}",
        "--policy",
        policy,
    )
    assert code == 2, (out, err)
    assert "Traceback" not in err
    assert err.strip().startswith("aitopup keys: the policy is not valid: expires_at:"), err
    assert "ak_" not in out
