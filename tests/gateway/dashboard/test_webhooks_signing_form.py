"""The endpoint forms' signing scheme and custom headers: chosen and edited through the forms
(CSRF as every form), the page showing the scheme, the public key and the headers with a secret
value masked, never in clear on any page."""

import re
import secrets

import pytest
from starlette.types import ASGIApp

from tests.fixtures.core import wait_until
from tests.fixtures.dashboard import SignUp
from tests.fixtures.webhooks import Receiver, verify_with_public_key
from tests.fixtures.workers import StartWorker

HOME = "/webhooks"
_ENDPOINT = re.compile(r"/dashboard/webhooks/endpoints/(we_[0-9a-z]+)")
_PUBLIC = re.compile(r'<code class="id" id="public-key">(whpk_[A-Za-z0-9+/=]+)</code>')


@pytest.fixture
def app(hook_app: ASGIApp) -> ASGIApp:
    return hook_app


async def test_scheme_and_headers_through_the_forms(
    sign_up: SignUp, receiver: Receiver, start_worker: StartWorker
) -> None:
    await start_worker()
    account = await sign_up()
    token = f"Bearer dash-{secrets.token_hex(12)}"
    made = await account.shown_once(
        "/webhooks/endpoints",
        {
            "url": receiver.url,
            "signing": "both",
            "header_name": ["Authorization", "X-Team", ""],  # type: ignore[dict-item]
            "header_value": [token, "payments", ""],  # type: ignore[dict-item]
            "header_secret": ["yes", "no", "no"],  # type: ignore[dict-item]
        },
        page=HOME,
    )
    assert made.status_code == 200, made.text
    found = _ENDPOINT.search(made.text)
    assert found is not None and 'id="public-key">whpk_' in made.text
    page = f"{HOME}/endpoints/{found.group(1)}"

    shown = (await account.client.get(page)).text
    assert 'id="signing-scheme">HMAC (v1) and ed25519 (v1a)</dd>' in shown
    public = _PUBLIC.search(shown)
    assert public is not None
    assert "<code>Authorization: ********</code>" in shown
    assert "<code>X-Team: payments</code>" in shown
    assert token.split(" ")[1] not in shown and "whsk_" not in shown
    assert '<option value="both" selected>' in shown

    # A forbidden header is refused beside the form, by name, and nothing changes.
    refused = await account.post(
        page,
        {
            "url": receiver.url,
            "signing": "both",
            "header_name": ["Authorization", "Host"],  # type: ignore[dict-item]
            "header_value": ["", "evil.example"],  # type: ignore[dict-item]
            "header_secret": ["yes", "no"],  # type: ignore[dict-item]
        },
        page=page,
    )
    assert refused.status_code == 422 and 'id="edit-error"' in refused.text
    assert "Host is set by the gateway" in refused.text
    # Without the CSRF token: refused, nothing changed.
    forged = await account.client.post(
        page, data={"url": receiver.url, "signing": "hmac", "header_name": "X-New"}
    )
    assert forged.status_code == 403
    assert _PUBLIC.search((await account.client.get(page)).text) is not None

    # Edit: keep the secret's value by leaving it empty, change the other one.
    saved = await account.post(
        page,
        {
            "url": receiver.url,
            "signing": "ed25519",
            "header_name": ["Authorization", "X-Team"],  # type: ignore[dict-item]
            "header_value": ["", "ops"],  # type: ignore[dict-item]
            "header_secret": ["yes", "no"],  # type: ignore[dict-item]
        },
        page=page,
    )
    assert saved.status_code == 303, saved.text
    after = (await account.client.get(page)).text
    assert 'id="signing-scheme">ed25519 (v1a)</dd>' in after
    assert "<code>X-Team: ops</code>" in after
    tested = await account.post(page + "/test", {}, page=page)
    assert tested.status_code == 303

    async def arrived() -> bool:
        return len(receiver.received) == 1

    await wait_until(arrived)
    request = receiver.received[0]
    assert request.headers["authorization"] == token and request.headers["x-team"] == "ops"
    verify_with_public_key(request, public.group(1))
    assert "x-aitopup-signature" not in request.headers


async def test_the_delivery_log_shows_a_secret_header_by_name_and_masked(
    sign_up: SignUp, receiver: Receiver, start_worker: StartWorker
) -> None:
    """The attempt the receiver got with the secret header's value in clear is shown on the
    delivery's page with the header's name and the mask; the value is on no page of the log."""
    await start_worker()
    account = await sign_up()
    token = f"Bearer log-{secrets.token_hex(12)}"
    made = await account.shown_once(
        "/webhooks/endpoints",
        {
            "url": receiver.url,
            "header_name": ["Authorization", "X-Team"],  # type: ignore[dict-item]
            "header_value": [token, "payments"],  # type: ignore[dict-item]
            "header_secret": ["yes", "no"],  # type: ignore[dict-item]
        },
        page=HOME,
    )
    found = _ENDPOINT.search(made.text)
    assert made.status_code == 200 and found is not None, made.text
    page = f"{HOME}/endpoints/{found.group(1)}"
    tested = await account.post(page + "/test", {}, page=page)
    assert tested.status_code == 303
    delivery = tested.headers["location"].removeprefix("/dashboard").partition("?")[0]

    async def attempted() -> bool:
        shown = (await account.client.get(delivery)).text
        return 'id="delivery-status">succeeded<' in shown and 'id="attempt-1"' in shown

    await wait_until(attempted)
    assert [r.headers["authorization"] for r in receiver.received] == [token]
    shown = (await account.client.get(delivery)).text
    sent = re.search(r'<pre class="request-headers">(.*?)</pre>', shown, re.S)
    assert sent is not None
    lines = sent.group(1).splitlines()
    assert "Authorization: ********" in lines and "X-Team: payments" in lines
    log = (await account.client.get("/webhooks/deliveries")).text
    for text in (shown, log, (await account.client.get(page)).text):
        assert token.split(" ")[1] not in text
