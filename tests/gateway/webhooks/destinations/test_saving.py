"""A destination as saved (``destinations.saving``): its type known, its object fitting the
type, its broker's address judged as a webhook URL's, the broker itself checked; sealed at rest,
read back masked. Every refusal is the error envelope with its own code, and writes nothing."""

import json
import uuid
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import select

from gateway.store.engine import Database
from gateway.store.models import WebhookEndpoint, table_of
from tests.fixtures.destinations import endpoint_count, post_endpoint
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.redis import RedisServer

_EP = table_of(WebhookEndpoint)
AMQP = "amqp://guest:guest@127.0.0.1:5672/%2F"


def refused_with(reply: httpx.Response, code: int) -> dict[str, Any]:
    body: dict[str, Any] = reply.json()
    assert reply.status_code == 422, reply.text
    assert body["success"] is False
    assert body["code"] == code, body
    return body


async def test_a_destination_is_sealed_at_rest_and_read_back_masked(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    private_redis: RedisServer,
) -> None:
    merchant = await make_merchant()
    url = private_redis.url.replace("redis://", "redis://default:hunter2-secret@")
    await _with_password(private_redis, "hunter2-secret")
    stream = f"s-{uuid.uuid4().hex}"
    reply = await post_endpoint(
        hook_client,
        merchant,
        {"type": "redis_stream", "destination": {"url": f"{url}/0", "stream": stream}},
    )
    assert reply.status_code == 201, reply.text
    data = reply.json()["data"]
    assert data["type"] == "redis_stream"
    assert "hunter2" not in reply.text
    assert data["destination"]["url"].startswith("redis://default:***@127.0.0.1:")
    assert data["destination"] == {
        "url": data["destination"]["url"],
        "stream": stream,
        "max_len": None,
    }
    read = await hook_client.get(f"/webhooks/endpoints/{data['id']}", headers=merchant.headers)
    assert read.json()["data"]["destination"] == data["destination"]
    listed = await hook_client.get("/webhooks/endpoints", headers=merchant.headers)
    assert "hunter2" not in listed.text
    async with db.read() as conn:
        row = (await conn.execute(select(_EP).where(_EP.c.id == data["id"]))).one()
    assert row.destination_sealed and "hunter2" not in row.destination_sealed
    assert "hunter2" not in (row.destination_shown or "") and "hunter2" not in row.url

    # A wrong password: the broker refuses, and nothing is written.
    before = await endpoint_count(db, merchant.merchant_id)
    wrong = url.replace("hunter2-secret", "wrong")
    refused = await post_endpoint(
        hook_client,
        merchant,
        {"type": "redis_stream", "destination": {"url": f"{wrong}/0", "stream": stream}},
    )
    body = refused_with(refused, 5353)
    assert "wrong" not in refused.text
    assert body["data"]["reason"]
    assert await endpoint_count(db, merchant.merchant_id) == before

    # Its masked address sent back as read (as the dashboard's edit form does) changes nothing.
    path = f"/webhooks/endpoints/{data['id']}"
    same = await hook_client.patch(
        path, json={"url": data["url"], "description": "kept"}, headers=merchant.headers
    )
    assert same.status_code == 200, same.text
    assert same.json()["data"]["destination"] == data["destination"]
    other = await hook_client.patch(
        path, json={"url": "http://127.0.0.1:9/hook"}, headers=merchant.headers
    )
    refused_with(other, 5351)

    # Changed to an http URL and back: each judged whole.
    to_http = await hook_client.patch(
        path, json={"type": "http", "url": "http://127.0.0.1:9/hook"}, headers=merchant.headers
    )
    assert to_http.status_code == 200, to_http.text
    assert to_http.json()["data"]["type"] == "http"
    assert to_http.json()["data"]["destination"] is None
    back = await hook_client.patch(
        path,
        json={"type": "redis_stream", "destination": {"url": f"{url}/0", "stream": stream}},
        headers=merchant.headers,
    )
    assert back.status_code == 200, back.text
    assert back.json()["data"]["destination"]["stream"] == stream


async def _with_password(server: RedisServer, password: str) -> None:
    redis = Redis.from_url(server.url)
    await redis.config_set("requirepass", password)
    await redis.aclose()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": "kafka", "destination": {"url": "kafka://x"}}, 5350),
        ({"type": "rabbitmq"}, 5351),
        ({"type": "rabbitmq", "destination": {"url": AMQP}}, 5351),
        ({"type": "rabbitmq", "destination": {"url": AMQP, "exchange": "x", "extra": 1}}, 5351),
        ({"type": "rabbitmq", "destination": {"url": "http://127.0.0.1/", "exchange": "x"}}, 5351),
        ({"type": "nats", "destination": {"url": "nats://127.0.0.1:4222", "subject": "a.*"}}, 5351),
        ({"type": "nats", "destination": {"url": "nats://", "subject": "a"}}, 5351),
        ({"type": "http", "url": "http://127.0.0.1:9/", "destination": {"url": AMQP}}, 5351),
        (
            {
                "type": "rabbitmq",
                "url": "http://127.0.0.1:9/",
                "destination": {"url": AMQP, "exchange": "x"},
            },
            5351,
        ),
        # No such exchange, no stream capturing the subject: nothing to take a message.
        ({"type": "rabbitmq", "destination": {"url": AMQP, "exchange": "nope-" + "0" * 8}}, 5353),
        (
            {"type": "nats", "destination": {"url": "nats://127.0.0.1:4222", "subject": "no.one"}},
            5353,
        ),
        # Credentials refused.
        (
            {
                "type": "rabbitmq",
                "destination": {"url": "amqp://guest:wrong@127.0.0.1:5672/", "exchange": ""},
            },
            5353,
        ),
    ],
)
async def test_a_destination_that_does_not_fit_is_refused_and_nothing_is_written(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    body: dict[str, Any],
    code: int,
) -> None:
    merchant = await make_merchant()
    refused_with(await post_endpoint(hook_client, merchant, body), code)
    assert await endpoint_count(db, merchant.merchant_id) == 0


@pytest.mark.parametrize(
    "destination",
    [
        # A client reads its options from the URL's query: certificate checks turned off (so a
        # name that resolves elsewhere at connect time is not caught by its certificate) ...
        {"type": "redis_stream", "url": "rediss://h.example:6380/0?ssl_cert_reqs=none"},
        {"type": "redis_stream", "url": "rediss://h.example/0?ssl_check_hostname=false"},
        {"type": "rabbitmq", "url": "amqps://u:p@h.example/?no_verify_ssl=1"},
        # ... and files of the worker's machine read as certificates and keys.
        {"type": "redis_stream", "url": "redis://127.0.0.1:6379/0?ssl_ca_certs=/etc/passwd"},
        {"type": "rabbitmq", "url": "amqps://u:p@h.example/?cafile=/etc/passwd"},
        {"type": "nats", "url": "nats://127.0.0.1:4222/?x=1"},
        {"type": "sqs", "url": "https://sqs.us-east-1.amazonaws.com/?a=b"},
        {"type": "redis_stream", "url": "redis://127.0.0.1:6379/0#frag"},
    ],
)
async def test_a_brokers_url_takes_no_options_in_its_query(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    destination: dict[str, str],
) -> None:
    merchant = await make_merchant()
    name, url = destination["type"], destination["url"]
    fields: dict[str, dict[str, Any]] = {
        "redis_stream": {"url": url, "stream": "s"},
        "rabbitmq": {"url": url, "exchange": ""},
        "nats": {"url": url, "subject": "a"},
        "sqs": {
            "queue_url": "https://sqs.us-east-1.amazonaws.com/1/q",
            "endpoint_url": url,
            "region": "us-east-1",
            "access_key_id": "AKIDEXAMPLE",
            "secret_access_key": "secret",
        },
    }
    reply = await post_endpoint(hook_client, merchant, {"type": name, "destination": fields[name]})
    body = refused_with(reply, 5351)
    assert body["data"] == {"field": "destination.url"}
    assert "query" in body["message"] or "fragment" in body["message"]
    assert await endpoint_count(db, merchant.merchant_id) == 0


async def test_a_malformed_url_quotes_no_part_of_its_password(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    # A password holding "/" ends the URL's authority early: what follows ":" reads as a port.
    for url in ("redis://u:pa55w/rd@127.0.0.1:6379/0", "redis://u:pa55w?rd@127.0.0.1:6379/0"):
        reply = await post_endpoint(
            hook_client,
            merchant,
            {"type": "redis_stream", "destination": {"url": url, "stream": "s"}},
        )
        refused_with(reply, 5351)
        assert "pa55w" not in reply.text
    assert await endpoint_count(db, merchant.merchant_id) == 0


@pytest.mark.parametrize(
    "url",
    [
        "amqp://guest:guest@127.0.0.1:5672/",
        "amqp://guest:guest@10.0.0.1:5672/",
        "amqp://guest:guest@[::1]:5672/",
        "amqp://guest:guest@169.254.169.254/",
    ],
)
async def test_live_refuses_a_broker_at_a_private_address(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database, url: str
) -> None:
    live = await make_merchant("live")
    reply = await post_endpoint(
        hook_client, live, {"type": "rabbitmq", "destination": {"url": url, "exchange": ""}}
    )
    body = refused_with(reply, 5352)
    assert "guest:guest" not in reply.text
    assert body["message"].startswith("Destination address refused")
    assert body["data"]["address"] in url and body["data"]["reason"]
    assert await endpoint_count(db, live.merchant_id) == 0


async def test_a_test_or_replay_judges_the_saved_brokers_address_again() -> None:
    from gateway.values.outcome import ApiError
    from gateway.webhooks.destinations.saving import recheck

    public = json.dumps({"url": "amqp://u:***@93.184.215.14:5672/", "exchange": ""})
    await recheck("rabbitmq", public, allow_loopback=False)
    private = json.dumps({"url": "amqp://u:***@10.1.2.3:5672/", "exchange": ""})
    with pytest.raises(ApiError) as refused:
        await recheck("rabbitmq", private, allow_loopback=False)
    assert refused.value.code == 5352
    assert refused.value.data == {"address": "10.1.2.3", "reason": "private"}
