"""The endpoint create form per destination type (``dashboard.destination_form``): each broker
type's fields, made from its model; what is typed judged by the rule the API's create uses, a
refusal shown beside its field with the secrets typed (a URL's password too) never shown again;
a saved destination sealed, as the API's is."""

import re
import uuid

import pytest
from redis.asyncio import Redis
from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import WebhookEndpoint, table_of
from gateway.webhooks.destinations.registry import DESTINATIONS
from tests.fixtures.dashboard import SignUp
from tests.fixtures.redis import RedisServer

HOME = "/webhooks"
_EP = table_of(WebhookEndpoint)


@pytest.fixture
def app(hook_app: ASGIApp) -> ASGIApp:
    return hook_app


async def test_the_form_offers_each_type_with_its_fields(sign_up: SignUp) -> None:
    account = await sign_up()
    text = (await account.client.get(HOME)).text
    for name in DESTINATIONS:
        assert f'<option value="{name}"' in text
    assert 'data-destination="http"' in text
    for key in (
        "dest-rabbitmq-url",
        "dest-rabbitmq-exchange",
        "dest-rabbitmq-routing_key",
        "dest-nats-subject",
        "dest-redis_stream-stream",
        "dest-redis_stream-max_len",
        "dest-sqs-queue_url",
        "dest-eventbridge-bus",
        "dest-pubsub-topic",
    ):
        assert f'id="{key}"' in text, key
    # A secret is typed where it is not echoed on screen.
    secret = re.search(r'<input id="dest-sqs-secret_access_key"[^>]*>', text)
    assert secret is not None and 'type="password"' in secret.group(0)


async def test_a_redis_stream_endpoint_is_made_from_the_form_and_sealed(
    sign_up: SignUp, private_redis: RedisServer, db: Database
) -> None:
    account = await sign_up()
    stream = f"form-{uuid.uuid4().hex}"
    made = await account.shown_once(
        "/webhooks/endpoints",
        {
            "type": "redis_stream",
            "dest-redis_stream-url": f"{private_redis.url}/0",
            "dest-redis_stream-stream": stream,
            "dest-redis_stream-max_len": "500",
            # Another type's fields, left as a browser sends them, are not read.
            "dest-rabbitmq-exchange": "ignored",
            "url": "",
        },
        page=HOME,
    )
    assert made.status_code == 200, made.text
    async with db.read() as conn:
        row = (
            await conn.execute(select(_EP).where(_EP.c.destination_type == "redis_stream"))
        ).one()
    assert row.destination_sealed and stream not in row.destination_sealed
    assert f'"stream":"{stream}"' in row.destination_shown
    assert '"max_len":500' in row.destination_shown


async def test_a_refusal_is_shown_beside_its_field_and_a_secret_typed_is_not_shown_again(
    sign_up: SignUp,
) -> None:
    account = await sign_up()
    refused = await account.post(
        "/webhooks/endpoints",
        {
            "type": "sqs",
            "dest-sqs-queue_url": "https://sqs.eu-west-1.amazonaws.com/1/q",
            "dest-sqs-region": "nowhere",
            "dest-sqs-access_key_id": "AKIAEXAMPLE",
            "dest-sqs-secret_access_key": "typed-secret-never-echoed",
        },
        page=HOME,
    )
    assert refused.status_code == 422, refused.text
    assert 'id="dest-sqs-region-error"' in refused.text
    assert 'href="#dest-sqs-region"' in refused.text
    assert "typed-secret-never-echoed" not in refused.text
    assert 'value="AKIAEXAMPLE"' in refused.text  # what is not secret stays as typed
    assert re.search(r'<option value="sqs" selected>', refused.text)

    missing = await account.post(
        "/webhooks/endpoints",
        {
            "type": "nats",
            "dest-nats-url": "nats://someone:typed-password@127.0.0.1:4222",
            "dest-nats-subject": "",
        },
        page=HOME,
    )
    assert missing.status_code == 422, missing.text
    assert 'id="dest-nats-subject-error"' in missing.text
    # A URL carrying a password is a secret too: typed anew, never shown again.
    assert "typed-password" not in missing.text

    unknown = await account.post("/webhooks/endpoints", {"type": "carrier-pigeon"}, page=HOME)
    assert unknown.status_code == 422, unknown.text
    assert 'id="type-error"' in unknown.text


async def test_an_address_refused_is_said_beside_the_broker_url(sign_up: SignUp) -> None:
    account = await sign_up()
    refused = await account.post(
        "/webhooks/endpoints",
        {
            "type": "nats",
            "dest-nats-url": "nats://127.0.0.1:1",  # nothing listens on port 1
            "dest-nats-subject": f"s.{uuid.uuid4().hex}",
        },
        page=HOME,
    )
    assert refused.status_code == 422, refused.text
    assert 'id="dest-nats-url-error"' in refused.text


async def test_the_edit_form_moves_a_brokers_address_and_keeps_its_password_in_place(
    sign_up: SignUp, private_redis: RedisServer
) -> None:
    """The endpoint page's edit form shows the broker type's fields as saved (the URL's password
    as ``***``); an edit that moves the stream keeps the password, one that moves the host with
    the password masked is refused beside the URL (nothing changed), and the password typed
    moves it, never shown again."""
    port = private_redis.url.rsplit(":", 1)[1]
    redis = Redis.from_url(private_redis.url)
    await redis.config_set("requirepass", "form-secret")
    await redis.aclose()
    account = await sign_up()
    made = await account.shown_once(
        "/webhooks/endpoints",
        {
            "type": "redis_stream",
            "dest-redis_stream-url": f"redis://default:form-secret@127.0.0.1:{port}/0",
            "dest-redis_stream-stream": "first",
        },
        page=HOME,
    )
    found = re.search(r"/dashboard/webhooks/endpoints/(we_[0-9a-z]+)", made.text)
    assert found is not None
    page = f"{HOME}/endpoints/{found.group(1)}"
    text = (await account.client.get(page)).text
    assert f'value="redis://default:***@127.0.0.1:{port}/0"' in text
    assert 'id="dest-redis_stream-stream"' in text and 'value="first"' in text
    assert "form-secret" not in text

    moved = await account.post(
        page,
        {
            "dest-redis_stream-url": f"redis://default:***@127.0.0.1:{port}/0",
            "dest-redis_stream-stream": "second",
            "description": "moved",
        },
        page=page,
    )
    assert moved.status_code == 303, moved.text
    text = (await account.client.get(page)).text
    assert "stream: second" in text and "form-secret" not in text

    elsewhere = await account.post(
        page,
        {
            "dest-redis_stream-url": f"redis://default:***@localhost:{port}/0",
            "dest-redis_stream-stream": "third",
        },
        page=page,
    )
    assert elsewhere.status_code == 422, elsewhere.text
    assert 'id="dest-redis_stream-url-error"' in elsewhere.text
    assert "type it anew" in elsewhere.text
    assert "stream: second" in elsewhere.text  # nothing changed

    typed = await account.post(
        page,
        {
            "dest-redis_stream-url": f"redis://default:form-secret@localhost:{port}/0",
            "dest-redis_stream-stream": "third",
        },
        page=page,
    )
    assert typed.status_code == 303, typed.text
    text = (await account.client.get(page)).text
    assert f"redis://default:***@localhost:{port}/0" in text
    assert "stream: third" in text and "form-secret" not in text
