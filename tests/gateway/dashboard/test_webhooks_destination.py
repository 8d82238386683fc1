"""A broker endpoint on the dashboard: its page names the destination's type and where in the
broker it goes, never a secret of it, and the edit form, which sends its masked address back,
saves its other fields."""

import json
import re

import pytest
from sqlalchemy import update
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import WebhookEndpoint, table_of
from tests.fixtures.dashboard import SignUp
from tests.fixtures.webhooks import Receiver

HOME = "/webhooks"
_ENDPOINT = re.compile(r"/dashboard/webhooks/endpoints/(we_[0-9a-z]+)")
_EP = table_of(WebhookEndpoint)


@pytest.fixture
def app(hook_app: ASGIApp) -> ASGIApp:
    return hook_app


async def test_a_broker_endpoint_is_shown_and_edited(
    sign_up: SignUp, receiver: Receiver, db: Database
) -> None:
    account = await sign_up()
    made = await account.shown_once("/webhooks/endpoints", {"url": receiver.url}, page=HOME)
    found = _ENDPOINT.search(made.text)
    assert found is not None
    endpoint_id = found.group(1)
    shown = {"url": "amqp://shop:***@broker.example:5672/shop", "exchange": "events"}
    async with db.transaction() as conn:
        # As saving leaves a broker endpoint's row (the sealed object is the worker's alone).
        await conn.execute(
            update(_EP)
            .where(_EP.c.id == endpoint_id)
            .values(
                destination_type="rabbitmq",
                destination_shown=json.dumps(shown),
                destination_sealed="sealed",
                url=shown["url"],
            )
        )
    page = f"{HOME}/endpoints/{endpoint_id}"
    text = (await account.client.get(page)).text
    destination = re.search(r'<dd id="destination">(.*?)</dd>', text)
    assert destination is not None
    assert "<code>rabbitmq</code>" in destination.group(1)
    assert "exchange: events" in destination.group(1)
    assert "amqp://shop:***@broker.example:5672/shop" in text

    saved = await account.post(page, {"url": shown["url"], "description": "queue"}, page=page)
    assert saved.status_code == 303, saved.text
    assert "queue" in (await account.client.get(page)).text
