"""The endpoint forms' payload filter: saved from the add form and shown on the endpoint's
page, tried on the merchant's recent events without saving anything, and a filter that is not
JSON or not a filter refused beside its field."""

import html
import re

import pytest
from starlette.types import ASGIApp

from tests.fixtures.dashboard import SignUp
from tests.fixtures.webhooks import Receiver

HOME = "/webhooks"
_ENDPOINT = re.compile(r"/dashboard/webhooks/endpoints/(we_[0-9a-z]+)")
_SHOWN = re.compile(r'<dd id="filter"><code>([^<]*)</code></dd>')
_TRIED = re.compile(r"(\d+) of the last (\d+) events pass this filter")


@pytest.fixture
def app(hook_app: ASGIApp) -> ASGIApp:
    return hook_app


async def test_the_filter_through_the_forms(sign_up: SignUp, receiver: Receiver) -> None:
    account = await sign_up()
    made = await account.shown_once(
        "/webhooks/endpoints",
        {"url": receiver.url, "filter": '{"type": "webhook.test"}'},
        page=HOME,
    )
    found = _ENDPOINT.search(made.text)
    assert found is not None
    page = f"{HOME}/endpoints/{found.group(1)}"
    shown = _SHOWN.search((await account.client.get(page)).text)
    assert shown is not None
    assert html.unescape(shown.group(1)) == '{"type": "webhook.test"}'
    tested = await account.post(f"{page}/test", {}, page=page)
    assert tested.status_code == 303, tested.text  # one event of the merchant's, to try on

    async def tried(filter_: str) -> tuple[int, int]:
        reply = await account.post(
            page, {"url": receiver.url, "filter": filter_, "preview": "1"}, page=page
        )
        assert reply.status_code == 200, reply.text
        counted = _TRIED.search(reply.text)
        assert counted is not None, reply.text
        return int(counted.group(1)), int(counted.group(2))

    assert await tried('{"type": "webhook.test"}') == (1, 1)
    assert await tried('{"type": "topup.delivered"}') == (0, 1)
    assert await tried("") == (1, 1)  # no filter lets every event through
    # Trying saved nothing: the page still shows the filter as it was.
    shown = _SHOWN.search((await account.client.get(page)).text)
    assert shown is not None and html.unescape(shown.group(1)) == '{"type": "webhook.test"}'

    for typed, said in (
        ("{not json", "not JSON"),
        ('{"type": {"$regex": "x"}}', "operator not supported"),
        # Past the decoder's recursion: refused by its depth, never decoded (a 500 before, and
        # a process whose limit a library raised overflows its C stack).
        ("[" * 3000 + "]" * 3000, "too deep"),
        ('{"type": ' + "[" * 40 + "]" * 40 + "}", "too deep"),
    ):
        refused = await account.post(page, {"url": receiver.url, "filter": typed}, page=page)
        assert refused.status_code == 422, refused.text
        assert 'aria-describedby="filter-error"' in refused.text
        assert said in refused.text
    lifted = await account.post(page, {"url": receiver.url, "filter": ""}, page=page)
    assert lifted.status_code == 303
    assert _SHOWN.search((await account.client.get(page)).text) is None
