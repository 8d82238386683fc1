"""Policy templates at /policy-templates: a named policy keys and consents name, so a change to
it applies to all of them at once; a key under a template never does more than it allows (the
same refusals as its own limits), nor gives more to the keys it makes; a change is previewed
before it is saved, recorded with who made it, and a template stays while anything names it.
The template is read with the key in the caller's one statement, so the rules are proved on
both stores."""

import asyncio
from typing import Any

import httpx
import pytest

from gateway.store.engine import Database
from tests.fixtures.merchants import MakeMerchant, MerchantKey


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _send(amount: int, to: str = "ada@example.com", platform: str = "claude") -> dict[str, Any]:
    return {"platform": platform, "amount_cents": amount, "recipient_email": to}


async def _template(client: httpx.AsyncClient, owner: MerchantKey, **policy: Any) -> str:
    reply = await client.post(
        "/policy-templates", json={"name": "agents", "policy": policy}, headers=owner.headers
    )
    assert (reply.status_code, reply.json()["code"]) == (201, 1004), reply.text
    template_id: str = reply.json()["data"]["id"]
    return template_id


async def _key(
    client: httpx.AsyncClient, maker: MerchantKey | str, **policy: Any
) -> dict[str, Any]:
    headers = _auth(maker) if isinstance(maker, str) else maker.headers
    reply = await client.post("/keys", json={"policy": policy}, headers=headers)
    assert reply.status_code == 201, reply.text
    made: dict[str, Any] = reply.json()["data"]
    return made


@pytest.mark.both_stores
async def test_a_template_change_applies_to_every_key_at_once(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    template = await _template(client, owner, limits=[{"amount_cents": 1_000, "interval": "daily"}])
    fleet = [(await _key(client, owner, template=template))["key"] for _ in range(3)]

    for key in fleet:
        assert (await client.post("/topup/send", json=_send(600), headers=_auth(key))).json()[
            "code"
        ] == 1001
        refused = await client.post("/topup/send", json=_send(600), headers=_auth(key))
        assert (refused.status_code, refused.json()["code"]) == (402, 2304), refused.text
        assert refused.json()["data"]["limit_cents"] == 1_000
        assert refused.json()["data"]["remaining_cents"] == 400

    changed = await client.patch(
        f"/policy-templates/{template}",
        json={"policy": {"max_per_send_cents": 100}},
        headers=owner.headers,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["data"]["keys"] == 3
    for key in fleet:
        refused = await client.post("/topup/send", json=_send(200), headers=_auth(key))
        assert (refused.status_code, refused.json()["code"]) == (403, 2305), refused.text
        assert refused.json()["data"]["limit_cents"] == 100
        assert (await client.post("/topup/send", json=_send(100), headers=_auth(key))).json()[
            "code"
        ] == 1001

    loosened = await client.patch(
        f"/policy-templates/{template}",
        json={"policy": {"max_per_send_cents": None, "limits": []}},
        headers=owner.headers,
    )
    assert loosened.status_code == 200, loosened.text
    for key in fleet:
        assert (await client.post("/topup/send", json=_send(900), headers=_auth(key))).json()[
            "code"
        ] == 1001


@pytest.mark.both_stores
async def test_a_key_under_a_template_cannot_exceed_it(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    template = await _template(
        client,
        owner,
        scopes=["topup:send", "topup:read"],
        max_per_send_cents=300,
        allowed_platforms=["claude", "gemini"],
        limits=[{"amount_cents": 1_000, "interval": "daily"}],
    )
    # Its own policy is wider in every field: the template holds it.
    made = await _key(
        client,
        owner,
        template=template,
        scopes=["topup:send", "topup:read", "keys"],
        limits=[{"amount_cents": 5_000, "interval": "daily"}],
        allowed_platforms=["claude", "chatgpt"],
    )
    key = made["key"]
    cap = await client.post("/topup/send", json=_send(301), headers=_auth(key))
    assert (cap.status_code, cap.json()["code"]) == (403, 2305), cap.text
    platform = await client.post(
        "/topup/send", json=_send(100, platform="chatgpt"), headers=_auth(key)
    )
    assert platform.json()["code"] == 2307, platform.text
    assert platform.json()["data"]["allowed_platforms"] == ["claude"]
    scope = await client.get("/keys", headers=_auth(key))
    assert (scope.status_code, scope.json()["code"]) == (403, 2301), scope.text
    for _ in range(3):
        assert (await client.post("/topup/send", json=_send(300), headers=_auth(key))).json()[
            "code"
        ] == 1001
    over = await client.post("/topup/send", json=_send(200), headers=_auth(key))
    assert (over.status_code, over.json()["code"]) == (402, 2304), over.text
    assert over.json()["data"]["limit_cents"] == 1_000
    self_view = await client.get("/keys/self", headers=_auth(key))
    assert self_view.status_code == 200, self_view.text
    assert self_view.json()["data"]["policy"]["max_per_send_cents"] == 300
    # Its usage is counted in the windows it acts under: the template's limit, not its own.
    listed = await client.get(f"/keys/{made['id']}", headers=owner.headers)
    (window,) = listed.json()["data"]["usage"]["windows"]
    assert (window["limit_cents"], window["spent_cents"]) == (1_000, 900)


@pytest.mark.both_stores
async def test_a_key_made_under_a_templated_key_stays_within_it(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    template = await _template(
        client,
        owner,
        scopes=["topup:send", "topup:read", "keys"],
        limits=[{"amount_cents": 1_000, "interval": "daily"}],
    )
    maker = (
        await _key(client, owner, template=template, scopes=["topup:send", "topup:read", "keys"])
    )["key"]

    unbounded = await client.post("/keys", json={"policy": {}}, headers=_auth(maker))
    assert (unbounded.status_code, unbounded.json()["code"]) == (403, 2317), unbounded.text
    assert unbounded.json()["data"]["fields"] == ["limits"]
    wider = await client.post(
        "/keys",
        json={"policy": {"limits": [{"amount_cents": 1_001, "interval": "daily"}]}},
        headers=_auth(maker),
    )
    assert wider.json()["code"] == 2317, wider.text

    # Under the same template, or with its own limit within, the child is within its maker.
    child = await _key(client, maker, template=template)
    assert child["policy"]["template"] == template
    narrower = await _key(client, maker, limits=[{"amount_cents": 500, "interval": "daily"}])
    refused = await client.post("/topup/send", json=_send(600), headers=_auth(narrower["key"]))
    assert refused.json()["code"] == 2304, refused.text

    # A PATCH that would move the child out from under the template is a loosening too.
    away = await client.patch(
        f"/keys/{child['id']}", json={"policy": {"template": None}}, headers=_auth(maker)
    )
    assert (away.status_code, away.json()["code"]) == (403, 2317), away.text

    # A key cannot loosen the template it acts under beyond what it holds.
    loosened = await client.patch(
        f"/policy-templates/{template}", json={"policy": {"limits": []}}, headers=_auth(maker)
    )
    assert (loosened.status_code, loosened.json()["code"]) == (403, 2317), loosened.text
    tightened = await client.patch(
        f"/policy-templates/{template}",
        json={"policy": {"limits": [{"amount_cents": 800, "interval": "daily"}]}},
        headers=_auth(maker),
    )
    assert tightened.status_code == 200, tightened.text


async def test_a_preview_says_what_a_change_would_do_and_saves_nothing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    template = await _template(
        client,
        owner,
        scopes=["topup:send", "topup:read"],
        limits=[{"amount_cents": 1_000, "interval": "daily"}],
    )
    loose = await _key(client, owner, template=template, scopes=["topup:send", "topup:read"])
    tight = await _key(
        client,
        owner,
        template=template,
        scopes=["topup:send"],
        limits=[{"amount_cents": 200, "interval": "daily"}],
    )
    await _key(client, owner)  # names no template: never in a preview

    proposed = {
        "policy": {
            "scopes": ["topup:send"],
            "limits": [{"amount_cents": 500, "interval": "daily"}],
        }
    }
    reply = await client.post(
        f"/policy-templates/{template}/preview", json=proposed, headers=owner.headers
    )
    assert reply.status_code == 200, reply.text
    preview = reply.json()["data"]
    assert preview["unchanged"] == 1
    assert [item["id"] for item in preview["changed"]] == [loose["id"]]
    moved = {c["field"]: c for c in preview["changed"][0]["changes"]}
    assert moved["scopes"] == {
        "field": "scopes",
        "before": ["topup:send", "topup:read"],
        "after": ["topup:send"],
        "effect": "tighter",
    }
    assert moved["limits"]["effect"] == "tighter"
    assert moved["limits"]["after"] == [{"amount_cents": 500, "interval": "daily"}]
    assert preview["changed"][0]["kind"] == "key"
    assert tight["id"] not in {item["id"] for item in preview["changed"]}

    # Nothing was saved: the template and the key act as before.
    got = await client.get(f"/policy-templates/{template}", headers=owner.headers)
    assert got.json()["data"]["policy"]["limits"] == [{"amount_cents": 1_000, "interval": "daily"}]
    sent = await client.post("/topup/send", json=_send(800), headers=_auth(loose["key"]))
    assert sent.json()["code"] == 1001, sent.text

    looser = await client.post(
        f"/policy-templates/{template}/preview",
        json={"policy": {"limits": [{"amount_cents": 2_000, "interval": "daily"}]}},
        headers=owner.headers,
    )
    (item,) = looser.json()["data"]["changed"]
    assert item["changes"][0]["effect"] == "looser"


async def test_a_template_is_kept_while_named_and_every_change_is_recorded(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    template = await _template(client, owner, max_per_send_cents=500)
    key = await _key(client, owner, template=template)
    refs = await client.get(f"/policy-templates/{template}/references", headers=owner.headers)
    assert [(r["id"], r["kind"]) for r in refs.json()["data"]] == [(key["id"], "key")]

    refused = await client.delete(f"/policy-templates/{template}", headers=owner.headers)
    assert (refused.status_code, refused.json()["code"]) == (409, 2381), refused.text
    assert refused.json()["data"] == {"keys": 1, "consents": 0}

    renamed = await client.patch(
        f"/policy-templates/{template}",
        json={"name": "support agents", "policy": {"max_per_send_cents": 400}},
        headers=owner.headers,
    )
    assert renamed.json()["data"]["name"] == "support agents"
    assert (await client.delete(f"/keys/{key['id']}", headers=owner.headers)).status_code == 200
    deleted = await client.delete(f"/policy-templates/{template}", headers=owner.headers)
    assert (deleted.status_code, deleted.json()["code"]) == (200, 1005), deleted.text
    gone = await client.get(f"/policy-templates/{template}", headers=owner.headers)
    assert (gone.status_code, gone.json()["code"]) == (404, 2380)

    changes = await client.get(f"/policy-templates/{template}/changes", headers=owner.headers)
    assert changes.status_code == 200, changes.text
    record = changes.json()["data"]
    assert [c["action"] for c in record] == ["deleted", "updated", "created"]
    assert {c["actor"] for c in record} == {f"key:{owner.key_id}"}
    updated = record[1]
    assert updated["policy_before"]["max_per_send_cents"] == 500
    assert updated["policy_after"]["max_per_send_cents"] == 400
    assert (updated["name_before"], updated["name_after"]) == ("agents", "support agents")


async def test_templates_are_the_merchants_and_environments_own(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    other = await make_merchant()
    live = await make_merchant("live", merchant_id=owner.merchant_id)
    template = await _template(client, owner, max_per_send_cents=500)
    for stranger in (other, live):
        got = await client.get(f"/policy-templates/{template}", headers=stranger.headers)
        assert (got.status_code, got.json()["code"]) == (404, 2380)
        named = await client.post(
            "/keys", json={"policy": {"template": template}}, headers=stranger.headers
        )
        assert (named.status_code, named.json()["code"]) == (404, 2380), named.text
        listed = await client.get("/policy-templates", headers=stranger.headers)
        assert listed.json()["data"] == []
        assert (
            await client.get(f"/policy-templates/{template}/changes", headers=stranger.headers)
        ).json()["code"] == 2380
    listed = await client.get("/policy-templates", headers=owner.headers)
    assert [t["id"] for t in listed.json()["data"]] == [template]


@pytest.mark.both_stores
async def test_bad_input_is_refused_in_the_envelope_and_changes_nothing(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    owner = await make_merchant()
    template = await _template(client, owner, max_per_send_cents=500)
    cases: list[tuple[str, str, Any, int, int | None]] = [
        ("POST", "/policy-templates", {"policy": {}}, 422, 3001),  # no name
        ("POST", "/policy-templates", {"name": " ", "policy": {}}, 422, 3001),
        ("POST", "/policy-templates", {"name": "x", "policy": {"limits": 5}}, 422, 3001),
        ("POST", "/policy-templates", {"name": "x", "extra": 1}, 422, 3001),
        ("POST", "/policy-templates", {"name": "x", "policy": {"template": template}}, 422, 2382),
        ("POST", "/policy-templates", [1], 400, 3002),
        ("PATCH", f"/policy-templates/{template}", {"policy": {"template": template}}, 422, 2382),
        ("PATCH", f"/policy-templates/{template}", {"name": None}, 422, 3001),
        (
            "PATCH",
            f"/policy-templates/{template}",
            {"policy": {"max_per_send_cents": 0}},
            422,
            3001,
        ),
        ("PATCH", "/policy-templates/pt_nope", {"name": "x"}, 404, 2380),
        ("POST", f"/policy-templates/{template}/preview", {"policy": {"scopes": ["x"]}}, 422, 3001),
        ("GET", "/policy-templates?limit=0", None, 422, None),
        ("GET", "/policy-templates?cursor=key_1", None, 422, None),
        ("DELETE", "/policy-templates/pt_..%2f", None, 404, None),
        ("POST", "/keys", {"policy": {"template": "pt_" + "0" * 24}}, 404, 2380),
        ("POST", "/keys", {"policy": {"template": "not-a-template"}}, 422, 3001),
    ]
    for method, path, body, status, code in cases:
        reply = await client.request(method, path, json=body, headers=owner.headers)
        assert reply.status_code == status, (method, path, reply.text)
        envelope = reply.json()
        assert envelope["success"] is False and envelope["message"]
        if code is not None:
            assert envelope["code"] == code, (method, path, reply.text)
    got = await client.get(f"/policy-templates/{template}", headers=owner.headers)
    assert got.json()["data"]["policy"]["max_per_send_cents"] == 500
    assert got.json()["data"]["name"] == "agents"
    listed = await client.get("/policy-templates", headers=owner.headers)
    assert len(listed.json()["data"]) == 1
    changes = await client.get(f"/policy-templates/{template}/changes", headers=owner.headers)
    assert len(changes.json()["data"]) == 1


@pytest.mark.both_stores
async def test_concurrent_changes_are_each_recorded_against_the_one_before(
    client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    owner = await make_merchant()
    template = await _template(client, owner, max_per_send_cents=100)
    key = (await _key(client, owner, template=template))["key"]

    async def change(cents: int) -> httpx.Response:
        return await client.patch(
            f"/policy-templates/{template}",
            json={"policy": {"max_per_send_cents": cents}},
            headers=owner.headers,
        )

    async def send() -> httpx.Response:
        return await client.post("/topup/send", json=_send(150), headers=_auth(key))

    amounts = list(range(200, 1_000, 100))
    replies = await asyncio.gather(*(change(c) for c in amounts), *(send() for _ in range(8)))
    assert all(r.status_code == 200 for r in replies[: len(amounts)])
    # Each send was judged under one state of the template or another, never half of one.
    assert {r.json()["code"] for r in replies[len(amounts) :]} <= {1001, 2305}

    record = (
        await client.get(f"/policy-templates/{template}/changes", headers=owner.headers)
    ).json()["data"]
    updates = list(reversed([c for c in record if c["action"] == "updated"]))
    assert len(updates) == len(amounts)
    chain = [100] + [u["policy_after"]["max_per_send_cents"] for u in updates]
    for before, update in zip(chain, updates, strict=False):
        assert update["policy_before"]["max_per_send_cents"] == before
    assert sorted(chain[1:]) == amounts
    final = (await client.get(f"/policy-templates/{template}", headers=owner.headers)).json()
    assert final["data"]["policy"]["max_per_send_cents"] == chain[-1]
