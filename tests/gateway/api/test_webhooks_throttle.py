"""An endpoint's throttle through the API: set on create, changed and lifted by PATCH, read by
GET, and a value out of bounds refused with its code, changing nothing."""

import httpx

from tests.fixtures.merchants import MakeMerchant

PUBLIC_URL = "http://93.184.215.14/hook"


async def test_the_throttle_is_set_changed_lifted_and_bounded(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    made = await client.post(
        "/webhooks/endpoints",
        json={"url": PUBLIC_URL, "throttle_per_second": 5},
        headers=merchant.headers,
    )
    assert made.status_code == 201, made.text
    endpoint = made.json()["data"]
    assert endpoint["throttle_per_second"] == 5
    path = f"/webhooks/endpoints/{endpoint['id']}"

    for bad in (0, -1, 1001, 10**30):
        refused = await client.patch(
            path, json={"throttle_per_second": bad}, headers=merchant.headers
        )
        assert (refused.status_code, refused.json()["code"]) == (422, 5320), bad
        assert refused.json()["data"] == {"min": 1, "max": 1000}
    for wrong in (2.5, "5", True):
        refused = await client.patch(
            path, json={"throttle_per_second": wrong}, headers=merchant.headers
        )
        assert (refused.status_code, refused.json()["code"]) == (422, 3001), wrong
    unmade = await client.post(
        "/webhooks/endpoints",
        json={"url": PUBLIC_URL, "throttle_per_second": 0},
        headers=merchant.headers,
    )
    assert (unmade.status_code, unmade.json()["code"]) == (422, 5320)
    listed = (await client.get("/webhooks/endpoints", headers=merchant.headers)).json()["data"]
    assert [e["throttle_per_second"] for e in listed] == [5]

    changed = await client.patch(path, json={"throttle_per_second": 1000}, headers=merchant.headers)
    assert changed.json()["data"]["throttle_per_second"] == 1000
    untouched = await client.patch(path, json={"description": "x"}, headers=merchant.headers)
    assert untouched.json()["data"]["throttle_per_second"] == 1000
    lifted = await client.patch(path, json={"throttle_per_second": None}, headers=merchant.headers)
    assert lifted.json()["data"]["throttle_per_second"] is None
    read = await client.get(path, headers=merchant.headers)
    assert read.json()["data"]["throttle_per_second"] is None
