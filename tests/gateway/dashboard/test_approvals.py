"""The approvals inbox: sends held above a key's approval line, and payments to sellers a key's
policy held, approved or denied from the dashboard through the API's own operations; another
merchant cannot decide them, nor a viewer."""

import re

from sqlalchemy import select, update
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, MerchantUser, User, table_of
from keys import parse_api_key
from tests.fixtures.approval_links import status_and_decider
from tests.fixtures.core import asgi_client
from tests.fixtures.dashboard import Account, SignUp, join_as
from tests.fixtures.dashboard_sends import held_send, key_with_approval_line
from tests.fixtures.held_payments import HOLDING, held, status_of
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy
from tests.fixtures.tally_payer import TallyPayer


async def test_held_sends_are_approved_or_denied_from_the_inbox(
    app: ASGIApp, sign_up: SignUp, db: Database
) -> None:
    alice, bob = await sign_up(), await sign_up()
    key = await key_with_approval_line(alice)
    first, second = await held_send(app, key, 700), await held_send(app, key, 900)

    inbox = await alice.client.get("/topups/approvals")
    assert first in inbox.text and second in inbox.text
    # Each held send names the key that sent it, by its name and its prefix.
    sent_by = re.findall(r'<td data-label="Sent by" class="sent-by">(.*?)</td>', inbox.text)
    assert len(sent_by) == 2
    prefix = parse_api_key(key).display_prefix
    assert all(cell.startswith("held <code") and prefix in cell for cell in sent_by), sent_by
    overview = await alice.client.get("/")
    assert "$16.00" in overview.text  # held: 7 + 9
    assert "$984.00" in overview.text  # available

    # Bob cannot decide Alice's sends, nor see them.
    assert first not in (await bob.client.get("/topups/approvals")).text
    assert (await bob.post(f"/topups/{first}/approve", {})).status_code == 404
    assert (await bob.post(f"/topups/{first}/deny", {})).status_code == 404
    assert (await status_and_decider(db, first))[0] == "pending_approval"

    approved = await alice.post(f"/topups/{first}/approve", {}, page="/topups/approvals")
    assert approved.status_code == 303
    denied = await alice.post(f"/topups/{second}/deny", {}, page="/topups/approvals")
    assert denied.status_code == 303
    status, decided_by = await status_and_decider(db, first)
    assert status == "delivered" and decided_by is not None and decided_by.startswith("user:")
    assert (await status_and_decider(db, second))[0] == "denied"
    overview = await alice.client.get("/")
    assert "$993.00" in overview.text  # 9 refunded

    # Deciding again is refused with the API's own answer, as a page.
    again = await alice.post(f"/topups/{first}/approve", {}, page="/topups/approvals")
    assert again.status_code == 409


async def test_a_person_sees_the_count_confirms_and_reads_who_decided_and_why(
    app: ASGIApp, sign_up: SignUp
) -> None:
    alice = await sign_up()
    key = await key_with_approval_line(alice)
    first, second = await held_send(app, key, 700), await held_send(app, key, 900)

    nav = (await alice.client.get("/")).text
    assert re.search(r'id="pending-approvals"[^>]*>2<', nav)
    # Approving asks first: the confirmation shows the send and why it was held.
    confirm = await alice.client.get(f"/topups/{first}/approve")
    assert confirm.status_code == 200
    assert "$7.00 to h@example.com" in confirm.text
    assert "above the sending key's approval line of $5.00" in confirm.text
    assert "Approve and deliver" in confirm.text
    assert (await alice.client.get(f"/topups/{second}/deny")).status_code == 200

    done = await alice.post(f"/topups/{first}/approve", {}, page=f"/topups/{first}/approve")
    assert done.status_code == 303 and done.headers["location"].endswith(f"approved={first}")
    page = (await alice.client.get(f"/topups/{first}")).text
    assert f'Approved by</dt><dd id="decided-by">{alice.email}, ' in page
    assert "UTC (just now)" in page
    assert "approval line of $5.00" in page
    nav = (await alice.client.get("/")).text
    assert re.search(r'id="pending-approvals"[^>]*>1<', nav)
    # Once decided, the confirmation says so and offers no button.
    late = await alice.client.get(f"/topups/{first}/deny")
    assert "no longer awaiting approval" in late.text and "Deny and refund" not in late.text


async def test_held_payments_are_listed_beside_held_sends_and_decided_from_the_inbox(
    app: ASGIApp, sign_up: SignUp, db: Database, make_merchant: MakeMerchant, tally: TallyPayer
) -> None:
    alice, bob = await sign_up(), await sign_up()
    agent = await make_merchant(balance_cents=1_000, merchant_id=await _merchant_of(db, alice))
    await set_policy(db, agent.key_id, HOLDING)
    async with asgi_client(app) as api:
        first, second = await held(api, agent, "i-1"), await held(api, agent, "i-2")
    inbox = await alice.client.get("/topups/approvals")
    assert first in inbox.text and second in inbox.text
    assert 'id="held-payments"' in inbox.text and "acct_seller" in inbox.text
    assert "above the paying key's approval line of $0.10" in inbox.text
    assert parse_api_key(agent.key).display_prefix in inbox.text
    nav = (await alice.client.get("/")).text
    assert re.search(r'id="pending-approvals"[^>]*>2<', nav)
    # Another merchant neither sees nor decides them.
    assert first not in (await bob.client.get("/topups/approvals")).text
    path = f"/topups/approvals/payments/{first}"
    assert (await bob.post(f"{path}/approve", {})).status_code == 404
    # A viewer reads the inbox and decides nothing.
    viewer = await join_as(app, alice, "viewer")
    assert first in (await viewer.client.get("/topups/approvals")).text
    assert (await viewer.post(f"{path}/approve", {})).status_code == 403
    assert await status_of(db, first) == ("pending_approval", None)

    approved = await alice.post(f"{path}/approve", {}, page="/topups/approvals")
    assert approved.status_code == 303 and approved.headers["location"].endswith(f"paid={first}")
    denied = await alice.post(
        f"/topups/approvals/payments/{second}/deny", {}, page="/topups/approvals"
    )
    assert denied.status_code == 303
    status, decided_by = await status_of(db, first)
    assert status == "authorized" and (decided_by or "").startswith("user:")
    assert (await status_of(db, second))[0] == "denied"
    assert tally.makes == [first]
    inbox = await alice.client.get("/topups/approvals")
    assert first not in inbox.text and second not in inbox.text
    again = await alice.post(f"{path}/deny", {}, page="/topups/approvals")
    assert again.status_code == 409


async def _merchant_of(db: Database, account: Account) -> str:
    async with db.read() as conn:
        found = await conn.execute(
            select(table_of(MerchantUser).c.merchant_id)
            .join(table_of(User), table_of(User).c.id == table_of(MerchantUser).c.user_id)
            .where(table_of(User).c.email == account.email)
        )
        return str(found.scalar_one())


async def test_a_send_held_by_its_templates_line_says_so(
    app: ASGIApp, sign_up: SignUp, db: Database, make_merchant: MakeMerchant
) -> None:
    """Why a send was held is read from the key's policy as it acts, under its template: a key
    with no approval line of its own, under a template's of $5.00, is held above $5.00."""
    alice = await sign_up()
    owner = await make_merchant(balance_cents=1_000, merchant_id=await _merchant_of(db, alice))
    async with asgi_client(app) as api:
        template = await api.post(
            "/policy-templates",
            json={"name": "held", "policy": {"approval_above_cents": 500}},
            headers=owner.headers,
        )
        assert template.status_code == 201, template.text
        made = await api.post(
            "/keys",
            json={"policy": {"template": template.json()["data"]["id"]}},
            headers=owner.headers,
        )
        assert made.status_code == 201, made.text
    txn = await held_send(app, made.json()["data"]["key"], 700)
    confirm = await alice.client.get(f"/topups/{txn}/approve")
    assert "above the sending key's approval line of $5.00" in confirm.text


async def test_a_payment_held_by_its_templates_line_says_so(
    app: ASGIApp, sign_up: SignUp, db: Database, make_merchant: MakeMerchant, tally: TallyPayer
) -> None:
    """As a send: a paying key with no approval line of its own, under a template's of $0.10."""
    alice = await sign_up()
    agent = await make_merchant(balance_cents=1_000, merchant_id=await _merchant_of(db, alice))
    async with asgi_client(app) as api:
        template = await api.post(
            "/policy-templates",
            json={"name": "held", "policy": {**HOLDING, "scopes": ["payments:send"]}},
            headers=agent.headers,
        )
        assert template.status_code == 201, template.text
        template_id = template.json()["data"]["id"]
        async with db.transaction() as conn:
            await conn.execute(
                update(table_of(ApiKeyRow))
                .where(table_of(ApiKeyRow).c.id == agent.key_id)
                .values(
                    policy={"scopes": ["payments:send"], "template": template_id},
                    template_id=template_id,
                )
            )
        payment = await held(api, agent, "t-1")
    inbox = await alice.client.get("/topups/approvals")
    assert payment in inbox.text
    assert "above the paying key's approval line of $0.10" in inbox.text
