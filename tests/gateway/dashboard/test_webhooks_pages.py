"""The webhook pages through their forms: endpoints (create with the secret shown once, edit,
enable and disable, rotate, test, recover, delete), the delivery log with every attempt, and
replay; refusals beside the form, CSRF, and nothing of another merchant's."""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape

import httpx
import pytest
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.webhooks import event_payloads, event_types
from tests.fixtures.core import wait_until
from tests.fixtures.dashboard import Account, SignUp
from tests.fixtures.webhooks import Receiver, Reply
from tests.fixtures.workers import StartWorker

HOME = "/webhooks"
_ENDPOINT = re.compile(r"/dashboard/webhooks/endpoints/(we_[0-9a-z]+)")
_SECRET = re.compile(r'<code id="secret">(whsec_[A-Za-z0-9+/=]+)</code>')


@pytest.fixture
def app(hook_app: ASGIApp) -> ASGIApp:
    """The dashboard of an app whose staging endpoints may point at this machine."""
    return hook_app


async def _create(account: Account, url: str, **fields: str | list[str]) -> tuple[str, str]:
    """A new endpoint through the form: its id and the secret its page showed."""
    reply = await account.shown_once("/webhooks/endpoints", {"url": url, **fields}, page=HOME)  # type: ignore[dict-item]
    assert reply.status_code == 200, reply.text
    endpoint = _ENDPOINT.search(reply.text)
    secret = _SECRET.search(reply.text)
    assert endpoint is not None and secret is not None
    return endpoint.group(1), secret.group(1)


def _page_of(endpoint_id: str) -> str:
    return f"{HOME}/endpoints/{endpoint_id}"


@dataclass
class Endpoint:
    account: Account
    id: str
    secret: str  # as its page showed it, once
    page: str


@pytest.fixture
async def endpoint(sign_up: SignUp, receiver: Receiver) -> Endpoint:
    """A new merchant, signed in, with one endpoint made through the form that sends to
    ``receiver``."""
    account = await sign_up()
    endpoint_id, secret = await _create(account, receiver.url)
    return Endpoint(account, endpoint_id, secret, _page_of(endpoint_id))


async def test_creating_an_endpoint_shows_its_secret_once_on_a_page_no_cache_keeps(
    sign_up: SignUp, receiver: Receiver
) -> None:
    account = await sign_up()
    reply = await account.shown_once(
        "/webhooks/endpoints",
        {"url": receiver.url, "description": "orders", "event_types": "topup.delivered"},
        page=HOME,
    )
    assert reply.status_code == 200
    assert reply.headers["cache-control"] == "no-store"
    secret = _SECRET.search(reply.text)
    assert secret is not None
    endpoint = _ENDPOINT.search(reply.text)
    assert endpoint is not None
    for path in (HOME, _page_of(endpoint.group(1))):
        later = await account.client.get(path)
        assert later.status_code == 200
        assert secret.group(1) not in later.text and "whsec_" not in later.text
        assert later.headers["cache-control"] != "no-store"
    listing = await account.client.get(HOME)
    assert receiver.url in listing.text and "topup.delivered" in listing.text


async def test_a_refused_url_is_shown_beside_the_form_with_the_input_kept(
    sign_up: SignUp,
) -> None:
    account = await sign_up()
    reply = await account.post(
        "/webhooks/endpoints",
        {"url": "ftp://example.com/hook", "description": "mine", "event_types": "balance.low"},
        page=HOME,
    )
    assert reply.status_code == 422
    assert 'id="create-error"' in reply.text and "Webhook URL invalid" in reply.text
    assert 'value="ftp://example.com/hook"' in reply.text and 'value="mine"' in reply.text
    assert re.search(r'value="balance.low" checked', reply.text)
    assert "No endpoints in staging yet." in reply.text
    unknown = await account.post(
        "/webhooks/endpoints", {"url": "http://127.0.0.1:9/x", "event_types": "nope"}, page=HOME
    )
    assert unknown.status_code == 422 and "unknown event types" in unescape(unknown.text)


def _field_error(html: str, name: str) -> str:
    found = re.search(rf'<p class="field-error" id="{name}-error">(.*?)</p>', html)
    assert found is not None, name
    return unescape(found.group(1))


async def test_every_refusal_of_an_endpoint_form_is_shown_at_once_with_the_input_kept(
    endpoint: Endpoint,
) -> None:
    """Create and edit: a private URL, too long a description and an unknown event type are
    each named beside their field, in one reply, and listed together above the form."""
    account = endpoint.account
    typed = {
        "url": "http://10.0.0.1/hook",
        "description": "d" * 501,
        "event_types": ["balance.low", "nope"],
    }
    for path, box in ((HOME + "/endpoints", "create-error"), (endpoint.page, "edit-error")):
        reply = await account.post(path, typed, page=endpoint.page)  # type: ignore[arg-type]
        assert reply.status_code == 422, path
        html = reply.text
        assert "resolves to 10.0.0.1, which is private" in _field_error(html, "url")
        assert "500 characters" in _field_error(html, "description")
        assert "unknown event types" in _field_error(html, "event_types")
        summary = re.search(rf'id="{box}">(.*?)</div>', html, re.S)
        assert summary is not None
        for link in ('href="#url"', 'href="#description"', 'href="#event_types"'):
            assert link in summary.group(1), (path, link)
        assert 'value="http://10.0.0.1/hook"' in html and 'value="' + "d" * 501 + '"' in html
        assert re.search(r'value="balance.low" checked', html)
        assert 'aria-describedby="url-error"' in html
    assert (await account.client.get(endpoint.page)).status_code == 200


async def test_editing_enabling_and_rotating_an_endpoint(
    endpoint: Endpoint, receiver: Receiver
) -> None:
    account, first_secret, page = endpoint.account, endpoint.secret, endpoint.page

    saved = await account.post(
        page,
        {
            "url": receiver.url + "/v2",
            "description": "billing",
            "event_types": ["topup.failed", "balance.low"],  # type: ignore[dict-item]
        },
        page=page,
    )
    assert saved.status_code == 303 and saved.headers["location"].endswith("?notice=saved")
    shown = (await account.client.get(page)).text
    assert f'value="{receiver.url}/v2"' in shown
    assert "<code>balance.low</code> <code>topup.failed</code>" in shown

    refused = await account.post(page, {"url": "not a url", "description": "kept"}, page=page)
    assert refused.status_code == 422 and 'id="edit-error"' in refused.text
    assert 'value="not a url"' in refused.text and 'value="kept"' in refused.text
    assert f'value="{receiver.url}/v2"' not in refused.text

    off = await account.post(page + "/enabled", {"enabled": "false"}, page=page)
    assert off.status_code == 303
    disabled = (await account.client.get(page)).text
    assert '<span class="status status-disabled" id="state">disabled</span>' in disabled
    test_refused = await account.post(page + "/test", {}, page=page)
    assert test_refused.status_code == 409 and "Webhook endpoint is disabled" in test_refused.text
    on = await account.post(page + "/enabled", {"enabled": "true"}, page=page)
    assert on.status_code == 303
    assert 'id="state">enabled</span>' in (await account.client.get(page)).text

    rotated = await account.shown_once(page + "/rotate", {"overlap_seconds": "3600"}, page=page)
    assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
    new_secret = _SECRET.search(rotated.text)
    assert new_secret is not None and new_secret.group(1) != first_secret
    assert "keeps signing beside it until" in rotated.text
    bad_overlap = await account.post(page + "/rotate", {"overlap_seconds": "-5"}, page=page)
    assert bad_overlap.status_code == 422 and 'id="action-error"' in bad_overlap.text

    deleted = await account.post(page + "/delete", {}, page=page)
    assert deleted.status_code == 303 and deleted.headers["location"].endswith("notice=deleted")
    assert (await account.client.get(page)).status_code == 404


async def test_test_events_replays_and_recovery_reach_the_receiver_and_the_log(
    endpoint: Endpoint, receiver: Receiver, start_worker: StartWorker
) -> None:
    await start_worker()
    account, endpoint_id, page = endpoint.account, endpoint.id, endpoint.page
    since = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S")

    sent = await account.post(page + "/test", {}, page=page)
    assert sent.status_code == 303
    delivery = sent.headers["location"].removeprefix("/dashboard").partition("?")[0]
    assert delivery.startswith("/webhooks/deliveries/dlv_")

    async def attempts(count: int, status: str) -> bool:
        shown = (await account.client.get(delivery)).text
        return (
            shown.count('class="card attempt"') == count
            and f'id="delivery-status">{status}<' in shown
        )

    await wait_until(lambda: attempts(1, "succeeded"))
    shown = (await account.client.get(delivery)).text
    assert "HTTP 200" in shown and "webhook-id: " in shown and "webhook.test" in shown
    first_id = receiver.received[0].webhook_id

    replayed = await account.post(delivery + "/replay", {}, page=delivery)
    assert replayed.status_code == 303 and replayed.headers["location"].endswith("notice=replayed")
    await wait_until(lambda: attempts(2, "succeeded"))
    assert [r.webhook_id for r in receiver.received] == [first_id, first_id]

    receiver.respond = lambda _: Reply(status=500, body=b"down")
    failing = await account.post(page + "/test", {}, page=page)
    failed = failing.headers["location"].removeprefix("/dashboard").partition("?")[0]

    async def failed_for_good() -> bool:
        return 'id="delivery-status">failed<' in (await account.client.get(failed)).text

    await wait_until(failed_for_good)
    log = (await account.client.get(failed)).text
    assert "HTTP 500" in log and "down" in log

    receiver.respond = lambda _: Reply()
    recovered = await account.post(page + "/recover", {"since": since}, page=page)
    assert recovered.status_code == 303
    assert recovered.headers["location"].endswith(f"{endpoint_id}?recovered=1")
    assert (
        "Replayed 1 failed delivery."
        in (await account.client.get(recovered.headers["location"].removeprefix("/dashboard"))).text
    )

    async def recovered_ok() -> bool:
        return 'id="delivery-status">succeeded<' in (await account.client.get(failed)).text

    await wait_until(recovered_ok)
    failing_id = receiver.received[-1].webhook_id
    assert failing_id != first_id
    assert all(r.webhook_id == failing_id for r in receiver.received[2:])

    log_page = await account.client.get("/webhooks/deliveries", params={"status": "succeeded"})
    assert log_page.status_code == 200 and log_page.text.count("<code>webhook.test</code>") == 2

    # The endpoint's last day: both tests succeeded, in six attempts (two, then three failed
    # and the recovery's one).
    health = (await account.client.get(page)).text
    stats = health[health.index('id="endpoint-stats"') :]
    assert "<dt>Succeeded</dt><dd>2</dd>" in stats
    assert "<dt>Failed</dt><dd>0 " in stats
    assert "of 6 attempts" in stats


async def test_recover_refuses_a_time_that_is_not_one_and_keeps_it(endpoint: Endpoint) -> None:
    account, page = endpoint.account, endpoint.page
    for typed in ("yesterday", "2026-11-23", "2026-11-23T10:00+02:00"):
        reply = await account.post(page + "/recover", {"since": typed}, page=page)
        assert reply.status_code == 422, typed
        assert 'id="recover-error"' in reply.text and f'value="{typed}"' in reply.text
    none = await account.post(page + "/recover", {"since": "2026-01-01T00:00"}, page=page)
    assert none.status_code == 303 and none.headers["location"].endswith("?recovered=0")


async def test_recover_between_two_times_refuses_a_range_backwards(endpoint: Endpoint) -> None:
    account, page = endpoint.account, endpoint.page
    for until in ("2026-01-01T00:00", "soon"):
        form = {"since": "2026-01-01T00:00", "until": until}
        reply = await account.post(page + "/recover", form, page=page)
        assert reply.status_code == 422, until
        assert 'id="recover-error"' in reply.text and f'value="{until}"' in reply.text
    both = {"since": "2026-01-01T00:00", "until": "2026-01-02T00:00"}
    none = await account.post(page + "/recover", both, page=page)
    assert none.status_code == 303 and none.headers["location"].endswith("?recovered=0")


async def test_the_delivery_log_refuses_a_bad_filter_on_the_page(sign_up: SignUp) -> None:
    account = await sign_up()
    reply = await account.client.get("/webhooks/deliveries", params={"status": "exploded"})
    assert reply.status_code == 422 and 'class="form-error"' in reply.text
    fine = await account.client.get("/webhooks/deliveries", params={"event_type": "balance.low"})
    assert fine.status_code == 200 and "No deliveries match these filters." in fine.text


async def test_forms_without_the_csrf_token_change_nothing(
    endpoint: Endpoint, receiver: Receiver
) -> None:
    account, page = endpoint.account, endpoint.page
    posts = {
        "/webhooks/endpoints": {"url": receiver.url + "/other"},
        page: {"url": receiver.url + "/changed"},
        page + "/enabled": {"enabled": "false"},
        page + "/rotate": {"overlap_seconds": "0"},
        page + "/test": {},
        page + "/recover": {"since": "2026-01-01T00:00"},
        page + "/delete": {},
    }
    before = (await account.client.get(page)).text
    for path, data in posts.items():
        for token in ({}, {"csrf_token": "forged"}):
            # A form with a field, so it is refused for its token, not its type.
            refused = await account.client.post(path, data={"n": "1", **data, **token})
            assert refused.status_code == 403, path
            assert "whsec_" not in refused.text
    after = await account.client.get(page)
    assert after.status_code == 200
    strip = re.compile(r'name="csrf_token" value="[^"]+"')
    assert strip.sub("", after.text) == strip.sub("", before)
    assert (await account.client.get(HOME)).text.count("/dashboard/webhooks/endpoints/we_") == 1
    assert "Nothing delivered yet." in (await account.client.get(HOME)).text


async def test_another_merchants_endpoint_and_delivery_are_not_found(
    sign_up: SignUp, receiver: Receiver, db: Database
) -> None:
    owner, other = await sign_up(), await sign_up()
    endpoint_id, _ = await _create(owner, receiver.url + "/private-path")
    page = _page_of(endpoint_id)
    sent = await owner.post(page + "/test", {}, page=page)
    delivery = sent.headers["location"].removeprefix("/dashboard").partition("?")[0]

    for path in (page, delivery):
        seen = await other.client.get(path)
        assert seen.status_code == 404, path
        assert "private-path" not in seen.text  # the id is only in the page's own URL
    for path, data in {
        page: {"url": receiver.url + "/stolen"},
        page + "/enabled": {"enabled": "false"},
        page + "/rotate": {"overlap_seconds": "0"},
        page + "/test": {},
        page + "/recover": {"since": "2026-01-01T00:00"},
        page + "/delete": {},
        delivery + "/replay": {},
    }.items():
        refused = await other.post(path, data, page=HOME)
        assert refused.status_code == 404, path
        assert "whsec_" not in refused.text and "private-path" not in refused.text
    filtered = await other.client.get("/webhooks/deliveries", params={"endpoint_id": endpoint_id})
    assert filtered.status_code == 200 and "dlv_" not in filtered.text

    still = await owner.client.get(page)
    assert still.status_code == 200 and 'id="state">enabled</span>' in still.text
    assert f'value="{receiver.url}/private-path"' in still.text


async def test_a_missing_endpoint_or_delivery_is_a_404_page(
    sign_up: SignUp, client: httpx.AsyncClient
) -> None:
    account = await sign_up()
    for path in (
        "/webhooks/endpoints/we_000000000000000000000000",
        "/webhooks/endpoints/nonsense",
        "/webhooks/deliveries/dlv_nope",
    ):
        reply = await account.client.get(path)
        assert reply.status_code == 404 and "<html" in reply.text


async def test_a_staging_endpoint_is_not_seen_from_live(
    endpoint: Endpoint, receiver: Receiver
) -> None:
    account = endpoint.account
    switched = await account.post("/env", {"env": "live", "next": "/dashboard/webhooks"}, page=HOME)
    assert switched.status_code == 303
    live = await account.client.get(HOME)
    assert "No endpoints in live yet." in live.text and receiver.url not in live.text
    page = endpoint.page
    assert (await account.client.get(page)).status_code == 404
    refused = await account.post(page + "/enabled", {"enabled": "false"}, page=HOME)
    assert refused.status_code == 404
    # Live never points at this machine, whatever the staging setting says.
    loopback = await account.post("/webhooks/endpoints", {"url": receiver.url}, page=HOME)
    assert loopback.status_code == 422 and "Webhook URL invalid" in loopback.text
    # The form says which address the host resolved to, and why it is refused.
    assert "URL host resolves to 127.0.0.1, which is loopback" in loopback.text
    metadata = await account.post(
        "/webhooks/endpoints", {"url": "http://169.254.169.254/latest"}, page=HOME
    )
    assert "resolves to 169.254.169.254, which is cloud metadata" in metadata.text


async def test_the_event_types_are_shown_below_the_add_form_with_schema_and_example(
    endpoint: Endpoint,
) -> None:
    """In their own card below "Add an endpoint", which the events of both endpoint forms
    link to."""
    account = endpoint.account
    reply = await account.client.get(HOME)
    assert reply.status_code == 200
    html = reply.text
    assert html.index('id="add-h"') < html.index('id="types-h"')
    link = f'<a href="/dashboard{HOME}#types-h" id="event-types-link">'
    assert html.count(link) == 1 and html.index(link) < html.index('id="types-h"')
    edit = (await account.client.get(endpoint.page)).text
    assert edit.count(link) == 1 and edit.index('id="edit-h"') < edit.index(link)
    listed = re.findall(r"<dt><code>([a-z_.]+)</code>", html)
    assert listed == [spec.name for spec in event_types.EVENTS]
    for spec in event_types.EVENTS:
        assert spec.description in unescape(html)
    schemas = re.findall(r'<pre class="event-schema">(.*?)</pre>', html, re.S)
    examples = re.findall(r'<pre class="event-example">(.*?)</pre>', html, re.S)
    assert len(schemas) == len(examples) == len(event_types.EVENTS)
    low = event_types.EVENTS.index(event_types.BY_TYPE["balance.low"])
    assert json.loads(unescape(schemas[low])) == event_payloads.BalanceLow.model_json_schema()
    assert json.loads(unescape(examples[low])) == event_types.BY_TYPE["balance.low"].example
