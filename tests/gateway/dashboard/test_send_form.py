"""Sending from the dashboard (``/dashboard/topups/send``): the API's own send, made as the key
the owner picks, under that key's policy; the reply's envelope is the API's (the same code for
the same body and key), a form posted twice is one top-up, bad input is a field's error with
nothing sent. Only an owner sends (CSRF-checked, as every form), and only as a key of their
merchant and environment."""

import re

from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import Topup, table_of
from tests.fixtures.core import asgi_client
from tests.fixtures.dashboard import SignUp, csrf_of, join_as
from tests.fixtures.dashboard_sends import (
    ATTEMPT,
    KEY_ID,
    SEND_PAGE,
    post_send_form,
    send_form_key,
    topup_count,
)

_T = table_of(Topup)
_RAW_KEY = re.compile(r"ak_staging_[0-9A-Za-z]{32}")


async def test_a_send_from_the_form_is_the_apis_as_the_key_picked(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    owner = await sign_up()
    empty = await owner.client.get(SEND_PAGE)
    assert 'id="no-sender"' in empty.text
    raw, key_id = await send_form_key(owner, "shop")
    body = {"key_id": key_id, "platform": "claude", "amount": "7.00",
            "recipient_email": "lee@example.com", "note": "Thanks!"}  # fmt: skip

    form = await owner.client.get(SEND_PAGE)
    attempt = ATTEMPT.search(form.text)
    assert attempt is not None
    posted = {**body, "csrf_token": csrf_of(form.text), "attempt": attempt.group(1)}
    sent = await owner.client.post(SEND_PAGE, data=posted)
    assert sent.status_code == 200, sent.text
    assert 'id="reply-code">1001<' in sent.text
    txn = re.search(r"&#34;transaction_id&#34;: &#34;(txn_[0-9a-z]+)&#34;", sent.text)
    assert txn is not None, sent.text
    # Posted again (a double click): the same reply, one top-up, the key's.
    again = await owner.client.post(SEND_PAGE, data=posted)
    assert txn.group(1) in again.text
    assert await topup_count(db, key_id) == 1
    async with db.read() as conn:
        row = (await conn.execute(select(_T).where(_T.c.id == txn.group(1)))).one()
    assert (row.amount_cents, row.recipient_email, row.api_key_id) == (
        700,
        "lee@example.com",
        key_id,
    )
    assert row.metadata == {"note": "Thanks!"}
    assert raw.startswith("ak_staging_")


async def test_the_keys_policy_refuses_here_as_it_does_at_the_api(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    owner = await sign_up()
    raw, key_id = await send_form_key(owner, "capped", max_per_send="5")
    body = {"platform": "claude", "amount_cents": 700, "recipient_email": "lee@example.com"}
    async with asgi_client(app) as api:
        at_api = await api.post(
            "/topup/send", json=body, headers={"Authorization": f"Bearer {raw}"}
        )
    code = at_api.json()["code"]
    assert at_api.status_code >= 400, at_api.text
    here = await post_send_form(owner, {"key_id": key_id, "platform": "claude", "amount": "7",
                               "recipient_email": "lee@example.com"})  # fmt: skip
    assert here.status_code == at_api.status_code
    assert f'id="reply-code">{code}<' in here.text and 'id="send-error"' in here.text
    assert await topup_count(db, key_id) == 0


async def test_bad_input_a_foreign_key_and_other_roles_send_nothing(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    owner, other = await sign_up(), await sign_up()
    _, key_id = await send_form_key(owner, "mine")
    _, foreign = await send_form_key(other, "theirs")
    before = await topup_count(db)
    good = {"key_id": key_id, "platform": "claude", "amount": "7",
            "recipient_email": "lee@example.com"}  # fmt: skip
    bad = (("amount", "7.001"), ("amount", "lots"), ("recipient_email", "nope"),
           ("platform", "nonesuch"), ("key_id", foreign), ("key_id", "x"))  # fmt: skip
    for field, value in bad:
        refused = await post_send_form(owner, {**good, field: value})
        assert refused.status_code in (401, 422), (field, value, refused.status_code)
        assert 'id="send-error"' in refused.text, (field, value)
    viewer = await join_as(app, owner, "viewer")
    assert (await viewer.post(SEND_PAGE, good, page=SEND_PAGE)).status_code == 403
    forged = await owner.client.post(SEND_PAGE, data={**good, "csrf_token": "forged"})
    assert forged.status_code == 403
    assert await topup_count(db) == before


async def test_a_merchant_with_no_key_makes_one_in_place_and_sends(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    """Signed up, no key yet: the Send page offers to make one there (the Keys page's own
    service, its cap and audit), and comes back with it picked; a viewer cannot."""
    owner = await sign_up()
    empty = await owner.client.get(SEND_PAGE)
    assert 'id="make-sender"' in empty.text and 'id="send-form"' not in empty.text
    made = await owner.post(f"{SEND_PAGE}/key", {}, page=SEND_PAGE)
    assert made.status_code == 303, made.text
    back = await owner.client.get(made.headers["location"].removeprefix("/dashboard"))
    [key_id] = KEY_ID.findall(back.text)
    assert f'<option value="{key_id}" selected>Dashboard sends' in back.text
    assert not _RAW_KEY.search(back.text)  # its value is shown nowhere
    sent = await post_send_form(owner, {"key_id": key_id, "platform": "claude", "amount": "7",
                               "recipient_email": "lee@example.com"})  # fmt: skip
    assert 'id="reply-code">1001<' in sent.text
    assert await topup_count(db, key_id) == 1
    viewer = await join_as(app, owner, "viewer")
    assert (await viewer.post(f"{SEND_PAGE}/key", {}, page=SEND_PAGE)).status_code == 403


async def test_a_frozen_environment_refuses_the_send_and_links_the_kill_switch(
    sign_up: SignUp, db: Database
) -> None:
    """A freeze is not the form's fault: the refusal is the send's ("The send was refused"),
    with the page that lifts it linked, never "Please correct"."""
    owner = await sign_up()
    _, key_id = await send_form_key(owner, "shop")
    assert (await owner.post("/freeze", {"held": "keep"}, page="/freeze")).status_code == 303
    refused = await post_send_form(owner, {"key_id": key_id, "platform": "claude", "amount": "7",
                                  "recipient_email": "lee@example.com"})  # fmt: skip
    assert refused.status_code == 423
    assert 'id="reply-code">2360<' in refused.text
    assert "The send was refused:" in refused.text and "Please correct" not in refused.text
    assert 'href="/dashboard/freeze"' in refused.text.split('id="frozen-help"', 1)[1]
    assert await topup_count(db, key_id) == 0
    # Unfrozen, a mistake in the form is one to correct.
    assert (await owner.post("/freeze/off", {}, page="/freeze")).status_code == 303
    wrong = await post_send_form(owner, {"key_id": key_id, "platform": "claude", "amount": "lots",
                                "recipient_email": "lee@example.com"})  # fmt: skip
    assert "Please correct:" in wrong.text and 'id="frozen-help"' not in wrong.text
