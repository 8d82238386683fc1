import httpx
import pytest

from keys import decode_webhook_secret
from tests.fixtures.merchants import MakeMerchant

PUBLIC_URL = "http://93.184.215.14/hook"  # a literal public address: no DNS in tests


async def test_endpoint_lifecycle(client: httpx.AsyncClient, make_merchant: MakeMerchant) -> None:
    merchant = await make_merchant()
    created = await client.post(
        "/webhooks/endpoints",
        json={"url": PUBLIC_URL, "event_types": ["topup.delivered"], "description": "ops"},
        headers=merchant.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["success"] is True and body["code"] == 1004
    data = body["data"]
    assert data["id"].startswith("we_")
    assert data["url"] == PUBLIC_URL
    assert data["event_types"] == ["topup.delivered"]
    assert data["enabled"] is True
    assert len(decode_webhook_secret(data["secret"])) == 32
    endpoint_id = data["id"]

    got = (await client.get(f"/webhooks/endpoints/{endpoint_id}", headers=merchant.headers)).json()
    assert got["data"]["id"] == endpoint_id
    assert "secret" not in got["data"]

    patched = await client.patch(
        f"/webhooks/endpoints/{endpoint_id}",
        json={"event_types": [], "enabled": False},
        headers=merchant.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["event_types"] == []
    assert patched.json()["data"]["enabled"] is False
    assert patched.json()["data"]["disabled_reason"] == "disabled by the merchant"

    enabled = await client.patch(
        f"/webhooks/endpoints/{endpoint_id}", json={"enabled": True}, headers=merchant.headers
    )
    assert enabled.json()["data"]["enabled"] is True
    assert enabled.json()["data"]["disabled_reason"] is None

    rotated = await client.post(
        f"/webhooks/endpoints/{endpoint_id}/rotate-secret", headers=merchant.headers
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["data"]["secret"] != data["secret"]
    assert rotated.json()["data"]["secret_rotation_ends_at"] is not None

    listed = (await client.get("/webhooks/endpoints", headers=merchant.headers)).json()
    assert [e["id"] for e in listed["data"]] == [endpoint_id]
    assert listed["meta"] == {"limit": 20, "has_more": False, "next_cursor": None}

    deleted = await client.delete(f"/webhooks/endpoints/{endpoint_id}", headers=merchant.headers)
    assert deleted.status_code == 200 and deleted.json()["code"] == 1005
    gone = await client.get(f"/webhooks/endpoints/{endpoint_id}", headers=merchant.headers)
    assert gone.status_code == 404 and gone.json()["code"] == 5001


async def test_endpoint_list_pages_with_a_cursor(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    ids = []
    for _ in range(3):
        reply = await client.post(
            "/webhooks/endpoints", json={"url": PUBLIC_URL}, headers=merchant.headers
        )
        ids.append(reply.json()["data"]["id"])
    first = (await client.get("/webhooks/endpoints?limit=2", headers=merchant.headers)).json()
    newest_first = sorted(ids, reverse=True)  # ids sort by time, then at random within a ms
    assert [e["id"] for e in first["data"]] == newest_first[:2]
    assert first["meta"]["has_more"] is True
    cursor = first["meta"]["next_cursor"]
    second = await client.get(
        f"/webhooks/endpoints?limit=2&cursor={cursor}", headers=merchant.headers
    )
    assert [e["id"] for e in second.json()["data"]] == newest_first[2:]


async def test_staging_and_live_never_see_each_others_endpoints(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    staging = await make_merchant("staging")
    live = await make_merchant("live", merchant_id=staging.merchant_id)
    made = await client.post(
        "/webhooks/endpoints", json={"url": PUBLIC_URL}, headers=staging.headers
    )
    endpoint_id = made.json()["data"]["id"]
    assert (await client.get("/webhooks/endpoints", headers=live.headers)).json()["data"] == []
    for method, path in [
        ("GET", f"/webhooks/endpoints/{endpoint_id}"),
        ("PATCH", f"/webhooks/endpoints/{endpoint_id}"),
        ("DELETE", f"/webhooks/endpoints/{endpoint_id}"),
        ("POST", f"/webhooks/endpoints/{endpoint_id}/rotate-secret"),
        ("POST", f"/webhooks/endpoints/{endpoint_id}/test"),
    ]:
        kwargs = {"json": {"description": "x"}} if method == "PATCH" else {}
        reply = await client.request(method, path, headers=live.headers, **kwargs)  # type: ignore[arg-type]
        assert reply.status_code == 404, (method, path)
        assert reply.json()["code"] == 5001
    still = await client.get(f"/webhooks/endpoints/{endpoint_id}", headers=staging.headers)
    assert still.json()["data"]["description"] is None


REFUSED_IN_LIVE = [
    "http://127.0.0.1/hook",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://10.0.0.1/hook",
    "http://192.168.1.10/hook",
    "http://172.16.0.1/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://0.0.0.0/hook",
    "http://2130706433/hook",  # 127.0.0.1 as one decimal number
    "http://0177.0.0.1/hook",  # octal
    "http://0x7f.1/hook",  # hex, short form
    "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped IPv6
    "http://[::ffff:a9fe:a9fe]/hook",  # mapped metadata address
    "http://[fe80::1]/hook",
    "http://[fd00:ec2::254]/hook",
    "http://224.0.0.1/hook",
    "http://100.64.0.1/hook",  # carrier-grade NAT
    "ftp://example.com/hook",
    "/relative/hook",
    "http:///no-host",
    "http://user:pw@93.184.215.14/hook",
    "http://exa mple.com/hook",
    "http://no-such-host.invalid/hook",
]


@pytest.mark.parametrize("url", REFUSED_IN_LIVE)
async def test_live_refuses_private_and_malformed_urls(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, url: str
) -> None:
    # hook_client allows loopback for staging; live must refuse regardless.
    live = await make_merchant("live")
    reply = await hook_client.post("/webhooks/endpoints", json={"url": url}, headers=live.headers)
    assert reply.status_code == 422, reply.text
    assert reply.json()["code"] == 5002
    listed = await hook_client.get("/webhooks/endpoints", headers=live.headers)
    assert listed.json()["data"] == []


async def test_staging_allows_loopback_only_when_configured(
    client: httpx.AsyncClient, hook_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    staging = await make_merchant("staging")
    url = {"url": "http://127.0.0.1:9/hook"}
    refused = await client.post("/webhooks/endpoints", json=url, headers=staging.headers)
    assert refused.json()["code"] == 5002
    allowed = await hook_client.post("/webhooks/endpoints", json=url, headers=staging.headers)
    assert allowed.status_code == 201
    private = await hook_client.post(
        "/webhooks/endpoints", json={"url": "http://10.0.0.1/hook"}, headers=staging.headers
    )
    assert private.json()["code"] == 5002


async def test_patch_checks_the_new_url(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("live")
    made = await client.post(
        "/webhooks/endpoints", json={"url": PUBLIC_URL}, headers=merchant.headers
    )
    endpoint_id = made.json()["data"]["id"]
    reply = await client.patch(
        f"/webhooks/endpoints/{endpoint_id}",
        json={"url": "http://169.254.169.254/"},
        headers=merchant.headers,
    )
    assert reply.json()["code"] == 5002
    got = await client.get(f"/webhooks/endpoints/{endpoint_id}", headers=merchant.headers)
    assert got.json()["data"]["url"] == PUBLIC_URL


BAD_REQUESTS = [
    ("POST", "/webhooks/endpoints", {"json": {}}, 3001),
    ("POST", "/webhooks/endpoints", {"json": {"url": 5}}, 3001),
    ("POST", "/webhooks/endpoints", {"json": {"url": PUBLIC_URL, "extra": 1}}, 3001),
    ("POST", "/webhooks/endpoints", {"json": {"url": PUBLIC_URL, "event_types": ["nope"]}}, 3001),
    ("POST", "/webhooks/endpoints", {"json": {"url": PUBLIC_URL, "event_types": "all"}}, 3001),
    (
        "POST",
        "/webhooks/endpoints",
        {"content": b"{", "headers": {"content-type": "application/json"}},
        3002,
    ),
    ("POST", "/webhooks/endpoints", {"json": [PUBLIC_URL]}, 3002),
    ("POST", "/webhooks/endpoints", {"content": b"url=x"}, 3003),
    ("POST", "/webhooks/endpoints", {"json": {"url": "x" * 70_000}}, 3004),
    ("GET", "/webhooks/endpoints?limit=0", {}, 3006),
    ("GET", "/webhooks/endpoints?limit=abc", {}, 3006),
    ("GET", "/webhooks/endpoints?cursor=bad", {}, 3005),
    ("GET", "/webhooks/endpoints?unknown=1", {}, 3006),
    ("GET", "/webhooks/endpoints/we_nope", {}, 5001),
    ("GET", "/webhooks/endpoints/we_000000000000000000000000", {}, 5001),
    ("PATCH", "/webhooks/endpoints/we_nope", {"json": {}}, 5001),
    ("DELETE", "/webhooks/endpoints/../x", {}, 3007),
    ("POST", "/webhooks/endpoints/we_000000000000000000000000/test", {}, 5001),
    ("POST", "/webhooks/endpoints/we_000000000000000000000000/rotate-secret", {}, 5001),
    (
        "POST",
        "/webhooks/endpoints/we_000000000000000000000000/replay-failed",
        {"json": {"since": "2024-01-01T00:00:00Z"}},
        5001,
    ),
    ("PUT", "/webhooks/endpoints", {}, 3008),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "code"), BAD_REQUESTS)
async def test_bad_input_gets_the_envelope_and_changes_nothing(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    method: str,
    path: str,
    kwargs: dict[str, object],
    code: int,
) -> None:
    merchant = await make_merchant()
    kwargs = dict(kwargs)  # the parameters are shared by both backends' runs
    headers = {**merchant.headers, **kwargs.pop("headers", {})}  # type: ignore[dict-item]
    reply = await client.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]
    body = reply.json()
    assert body["success"] is False
    assert body["code"] == code, body
    assert set(body) >= {"success", "code", "message", "timestamp", "data"}
    listed = await client.get("/webhooks/endpoints", headers=merchant.headers)
    assert listed.json()["data"] == []


async def test_endpoint_bad_input_on_existing_endpoint_changes_nothing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    made = await client.post(
        "/webhooks/endpoints", json={"url": PUBLIC_URL}, headers=merchant.headers
    )
    endpoint = made.json()["data"]
    path = f"/webhooks/endpoints/{endpoint['id']}"
    for payload, code in [
        ({"url": None}, 5002),
        ({"enabled": None}, 3001),
        ({"enabled": "yes"}, 3001),
        ({"event_types": ["topup.nope"]}, 3001),
        ({"description": "x" * 501}, 3001),
    ]:
        reply = await client.patch(path, json=payload, headers=merchant.headers)
        assert reply.json()["code"] == code, (payload, reply.json())
    for payload in [{"overlap_seconds": -1}, {"overlap_seconds": "1"}, {"other": 1}]:
        reply = await client.post(f"{path}/rotate-secret", json=payload, headers=merchant.headers)
        assert reply.json()["code"] == 3001, payload
    for payload in [{}, {"since": "yesterday"}, {"since": "2024-01-01T00:00:00"}]:
        reply = await client.post(f"{path}/replay-failed", json=payload, headers=merchant.headers)
        assert reply.json()["code"] == 3001, payload
    after = (await client.get(path, headers=merchant.headers)).json()["data"]
    assert after == {k: v for k, v in endpoint.items() if k != "secret"}


async def test_webhook_routes_need_a_key(client: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/webhooks/endpoints"),
        ("POST", "/webhooks/endpoints"),
        ("GET", "/webhooks/deliveries"),
    ]:
        reply = await client.request(method, path)
        assert reply.status_code == 401
        assert reply.json()["code"] == 2001
