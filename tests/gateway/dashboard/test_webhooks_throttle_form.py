"""The endpoint forms' throttle: set when the endpoint is made, shown on its page, changed and
lifted in the edit form, and a refusal shown beside the field with what was typed."""

import re

import pytest
from starlette.types import ASGIApp

from tests.fixtures.dashboard import SignUp
from tests.fixtures.webhooks import Receiver

HOME = "/webhooks"
_ENDPOINT = re.compile(r"/dashboard/webhooks/endpoints/(we_[0-9a-z]+)")
_SHOWN = re.compile(r'<dd id="throttle">([^<]*)</dd>')


@pytest.fixture
def app(hook_app: ASGIApp) -> ASGIApp:
    return hook_app


async def test_the_throttle_through_the_forms(sign_up: SignUp, receiver: Receiver) -> None:
    account = await sign_up()
    made = await account.shown_once(
        "/webhooks/endpoints", {"url": receiver.url, "throttle_per_second": "20"}, page=HOME
    )
    assert made.status_code == 200, made.text
    found = _ENDPOINT.search(made.text)
    assert found is not None
    page = f"{HOME}/endpoints/{found.group(1)}"

    async def shown() -> str:
        text = (await account.client.get(page)).text
        value = _SHOWN.search(text)
        assert value is not None
        return value.group(1)

    assert await shown() == "20 deliveries a second at most"

    for typed in ("0", "1001", "fast"):
        refused = await account.post(
            page, {"url": receiver.url, "throttle_per_second": typed}, page=page
        )
        assert refused.status_code == 422, typed
        assert 'id="throttle_per_second-error"' in refused.text
        assert f'value="{typed}"' in refused.text
    assert await shown() == "20 deliveries a second at most"

    # A form without the field leaves the throttle alone; an empty one lifts it.
    kept = await account.post(page, {"url": receiver.url, "description": "x"}, page=page)
    assert kept.status_code == 303
    assert await shown() == "20 deliveries a second at most"
    lifted = await account.post(page, {"url": receiver.url, "throttle_per_second": ""}, page=page)
    assert lifted.status_code == 303
    assert await shown() == "unthrottled"
