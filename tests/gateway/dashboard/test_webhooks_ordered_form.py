"""The endpoint forms' order: an endpoint made ordered shows it on its page, the edit form shows
the box ticked, clearing it makes the endpoint plain, and a form without the box changes
nothing."""

import re

import pytest
from starlette.types import ASGIApp

from tests.fixtures.dashboard import SignUp
from tests.fixtures.webhooks import Receiver

HOME = "/webhooks"
_ENDPOINT = re.compile(r"/dashboard/webhooks/endpoints/(we_[0-9a-z]+)")
_SHOWN = re.compile(r'<dd id="ordered">([^<]*)</dd>')
_TICKED = re.compile(r'<input id="ordered" name="ordered" type="checkbox" value="true" checked>')


@pytest.fixture
def app(hook_app: ASGIApp) -> ASGIApp:
    return hook_app


async def test_the_order_through_the_forms(sign_up: SignUp, receiver: Receiver) -> None:
    account = await sign_up()
    made = await account.shown_once(
        "/webhooks/endpoints",
        {"url": receiver.url, "ordered_shown": "1", "ordered": "true"},
        page=HOME,
    )
    assert made.status_code == 200, made.text
    found = _ENDPOINT.search(made.text)
    assert found is not None
    page = f"{HOME}/endpoints/{found.group(1)}"

    async def shown() -> tuple[str, bool]:
        text = (await account.client.get(page)).text
        value = _SHOWN.search(text)
        assert value is not None
        return value.group(1), _TICKED.search(text) is not None

    in_order = "in order: one at a time, each after the one before it succeeded or was given up"
    assert await shown() == (in_order, True)

    # A form that did not show the box leaves the order alone.
    kept = await account.post(page, {"url": receiver.url, "description": "x"}, page=page)
    assert kept.status_code == 303
    assert await shown() == (in_order, True)

    # The box shown and left clear: the endpoint goes back to any order.
    cleared = await account.post(page, {"url": receiver.url, "ordered_shown": "1"}, page=page)
    assert cleared.status_code == 303
    assert await shown() == ("any order", False)


_BATCH = re.compile(r'<dd id="batch_size">([^<]*)</dd>')


async def test_the_batch_size_through_the_forms(sign_up: SignUp, receiver: Receiver) -> None:
    account = await sign_up()
    made = await account.shown_once(
        "/webhooks/endpoints",
        {"url": receiver.url, "ordered_shown": "1", "ordered": "true", "batch_size": "10"},
        page=HOME,
    )
    assert made.status_code == 200, made.text
    found = _ENDPOINT.search(made.text)
    assert found is not None
    page = f"{HOME}/endpoints/{found.group(1)}"

    async def shown() -> str:
        text = (await account.client.get(page)).text
        value = _BATCH.search(text)
        assert value is not None
        assert 'id="batch_size" name="batch_size"' in text  # the edit form offers it
        return value.group(1)

    assert await shown() == "10"
    ordered = {"url": receiver.url, "ordered_shown": "1", "ordered": "true"}
    for typed in ("0", "101", "many"):
        refused = await account.post(page, {**ordered, "batch_size": typed}, page=page)
        assert refused.status_code == 422, typed
        assert 'id="batch_size-error"' in refused.text
        assert f'value="{typed}"' in refused.text
    # Batches keep an order: clearing the box with batches on is refused beside the field.
    unordered = await account.post(
        page, {"url": receiver.url, "ordered_shown": "1", "batch_size": "10"}, page=page
    )
    assert unordered.status_code == 422
    assert 'id="batch_size-error"' in unordered.text
    assert await shown() == "10"
    # A form without the field leaves the batch size alone.
    kept = await account.post(page, {**ordered, "description": "x"}, page=page)
    assert kept.status_code == 303
    assert await shown() == "10"
    changed = await account.post(page, {**ordered, "batch_size": "2"}, page=page)
    assert changed.status_code == 303
    assert await shown() == "2"
