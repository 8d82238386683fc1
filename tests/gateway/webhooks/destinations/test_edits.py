"""An edit of a broker's destination (``saving.edited``): its address may move, judged and
tested as on a create; a secret it leaves as reads show it (left out, empty or ``***``, a URL's
password ``***``) is kept while the address stays where the secret was given for, and refused,
to be typed anew, once it moves; an edit that comes to the saved destination is not tested
again. A refusal writes nothing."""

import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from gateway.values.outcome import ApiError
from gateway.webhooks.destinations import saving
from gateway.webhooks.destinations.sqs import SqsConfig
from keys import Sealer
from tests.fixtures.core import TEST_SECRET
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.redis import RedisServer

PASSWORD = "hunter2-secret"


async def _password(server: RedisServer, password: str, *, now: str = "") -> None:
    """The server's password set to ``password`` (empty: none), from ``now``'s."""
    redis = Redis.from_url(
        server.url.replace("redis://", f"redis://default:{now}@" if now else "redis://")
    )
    try:
        await redis.config_set("requirepass", password)
    finally:
        await redis.aclose()


async def _patch(
    client: httpx.AsyncClient, merchant: MerchantKey, path: str, destination: dict[str, Any]
) -> httpx.Response:
    return await client.patch(path, json={"destination": destination}, headers=merchant.headers)


async def test_a_brokers_address_moves_and_its_password_is_kept_only_in_place(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, private_redis: RedisServer
) -> None:
    port = private_redis.url.rsplit(":", 1)[1]
    await _password(private_redis, PASSWORD)
    merchant = await make_merchant()
    made = await hook_client.post(
        "/webhooks/endpoints",
        json={
            "type": "redis_stream",
            "destination": {
                "url": f"redis://default:{PASSWORD}@127.0.0.1:{port}/0",
                "stream": f"s-{uuid.uuid4().hex}",
            },
        },
        headers=merchant.headers,
    )
    assert made.status_code == 201, made.text
    path = f"/webhooks/endpoints/{made.json()['data']['id']}"
    shown = made.json()["data"]["destination"]
    assert shown["url"] == f"redis://default:***@127.0.0.1:{port}/0"

    # Another stream and database on the same server, the password left masked: kept (the
    # server asks for it, and the edit's test publish got in).
    stream = f"s-{uuid.uuid4().hex}"
    moved = await _patch(
        hook_client,
        merchant,
        path,
        {"url": f"redis://default:***@127.0.0.1:{port}/1", "stream": stream, "max_len": 50},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["data"]["destination"] == {
        "url": f"redis://default:***@127.0.0.1:{port}/1",
        "stream": stream,
        "max_len": 50,
    }
    assert PASSWORD not in moved.text

    # Another host, the password left masked: refused by its field, to be typed anew.
    elsewhere = await _patch(
        hook_client,
        merchant,
        path,
        {"url": f"redis://default:***@localhost:{port}/1", "stream": stream},
    )
    assert elsewhere.status_code == 422, elsewhere.text
    assert elsewhere.json()["code"] == 5351
    assert elsewhere.json()["data"] == {"field": "destination.url"}
    read = await hook_client.get(path, headers=merchant.headers)
    assert read.json()["data"]["destination"] == moved.json()["data"]["destination"]

    # A wrong password typed: judged as on a create, refused by the broker, nothing written.
    wrong = await _patch(
        hook_client,
        merchant,
        path,
        {"url": f"redis://default:wrong@localhost:{port}/1", "stream": stream},
    )
    assert wrong.status_code == 422 and wrong.json()["code"] == 5353, wrong.text
    assert "wrong" not in wrong.text
    read = await hook_client.get(path, headers=merchant.headers)
    assert read.json()["data"]["destination"] == moved.json()["data"]["destination"]

    # Another host with the password typed: moved.
    typed = await _patch(
        hook_client,
        merchant,
        path,
        {"url": f"redis://default:{PASSWORD}@localhost:{port}/1", "stream": stream},
    )
    assert typed.status_code == 200, typed.text
    now = typed.json()["data"]["destination"]
    assert now["url"] == f"redis://default:***@localhost:{port}/1"

    # The destination sent back as read is the saved one: not tested again (the server now
    # asks for another password, and the edit still saves).
    await _password(private_redis, "changed-since", now=PASSWORD)
    same = await hook_client.patch(
        path, json={"destination": now, "description": "kept"}, headers=merchant.headers
    )
    assert same.status_code == 200, same.text
    assert same.json()["data"]["destination"] == now
    assert same.json()["data"]["description"] == "kept"


SAVED = {
    "queue_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/events",
    "region": "eu-west-1",
    "access_key_id": "AKIAEXAMPLE",
    "secret_access_key": "s3cret-key",
}


@pytest.mark.parametrize("left", [None, "", "***"], ids=["left-out", "empty", "masked"])
def test_a_secret_field_left_as_read_is_kept_in_place_and_refused_elsewhere(
    left: str | None,
) -> None:
    sealer = Sealer(TEST_SECRET.encode())
    sealed = saving.columns_of(sealer, "we_1", "sqs", SqsConfig(**SAVED))["destination_sealed"]
    given = {k: v for k, v in SAVED.items() if k != "secret_access_key"}
    if left is not None:
        given["secret_access_key"] = left
    # As read: nothing to judge again.
    assert saving.edited(sealer, "we_1", "sqs", sealed, given) is None
    # Another queue on the same host: the secret kept.
    other = {**given, "queue_url": SAVED["queue_url"].replace("events", "others")}
    kept = saving.edited(sealer, "we_1", "sqs", sealed, other)
    assert kept is not None and kept["secret_access_key"] == "s3cret-key"
    # Another endpoint: refused, unless the secret is left out (then the model asks for it).
    moved = {**given, "endpoint_url": "http://127.0.0.1:9"}
    if left is None:
        assert "secret_access_key" not in (
            saving.edited(sealer, "we_1", "sqs", sealed, moved) or {}
        )
        return
    with pytest.raises(ApiError) as refused:
        saving.edited(sealer, "we_1", "sqs", sealed, moved)
    assert refused.value.data == {"field": "destination.secret_access_key"}
