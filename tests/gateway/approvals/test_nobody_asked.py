"""A hold nobody was asked to decide says so where it is made and where it is read: a merchant
made from the command line has no people, so its held sends and payments are mailed to nobody.
The reply that held it counts the people asked (``approvers_asked``: 0), a replay of that reply
counts the same, and its page on the dashboard says nobody was asked, in English, Chinese and
Japanese; once someone may decide, the next hold asks them and its page says nothing of it."""

import asyncio
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from starlette.types import ASGIApp

from gateway.accounts import users
from gateway.approvals import links
from gateway.store.engine import Database
from gateway.store.models import Mail, MerchantUser, table_of
from gateway.values.outcome import Outcome
from tests.fixtures.core import asgi_client
from tests.fixtures.dashboard import Account, dashboard_client, sign_up_on
from tests.fixtures.held_payments import HOLDING
from tests.fixtures.languages import latin_left, untranslated
from tests.fixtures.merchants import MakeMerchant, MerchantKey
from tests.fixtures.policies import set_policy
from tests.fixtures.seller_payments import pay
from tests.fixtures.tally_payer import TallyPayer, challenge

_MU = table_of(MerchantUser)
_MAIL = table_of(Mail)
HELD = {"scopes": ["topup:send", "topup:read", "payments:send"], "approval_above_cents": 10}
SEND = {"platform": "claude", "amount_cents": 900, "recipient_email": "r@ex.com"}


async def _owner_and_agent(
    app: ASGIApp, db: Database, make_merchant: MakeMerchant
) -> tuple[Account, str, MerchantKey]:
    """An owner signed up, their merchant's id, and a staging key of that merchant whose sends
    and payments are held."""
    owner = await sign_up_on(dashboard_client(app))
    user = await users.check_password(db, owner.email, owner.password)
    assert user is not None
    agent = await make_merchant("staging", merchant_id=user.merchant_id)
    await set_policy(db, agent.key_id, {**HOLDING, **HELD})
    return owner, user.merchant_id, agent


async def _role(db: Database, merchant_id: str, role: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(update(_MU).where(_MU.c.merchant_id == merchant_id).values(role=role))


async def _holds(client: httpx.AsyncClient, agent: MerchantKey, key: str) -> tuple[str, str, int]:
    """A send and a payment ``agent``'s policy holds: their ids, and the people each asked."""
    sent = await client.post("/topup/send", json=SEND, headers=agent.headers)
    assert sent.status_code == 202, sent.text
    paid = await pay(client, agent, key)
    assert paid.status_code == 202 and paid.json()["code"] == 1173, paid.text
    asked = sent.json()["data"]["approvers_asked"]
    assert paid.json()["data"]["approvers_asked"] == asked
    return sent.json()["transaction_id"], paid.json()["transaction_id"], asked


async def _pages(owner: Account, txn: str, payment: str, language: str) -> list[str]:
    return [
        await _page(owner, path, language) for path in (f"/topups/{txn}", f"/payments/{payment}")
    ]


async def _page(owner: Account, path: str, language: str) -> str:
    """The dashboard's page at ``path`` in ``language``, with no English left in Chinese or
    Japanese."""
    owner.client.headers["Accept-Language"] = language
    page = await owner.client.get(path)
    assert page.status_code == 200, page.text
    if language != "en":
        assert not untranslated(page.text, language), path
        assert not latin_left(page.text), (path, latin_left(page.text))
    return page.text


def _marked(page: str) -> set[str]:
    """The held rows the approvals inbox marks as asked of nobody."""
    return set(re.findall(r'data-unasked="([^"]+)"', page))


async def test_a_merchant_without_people_is_told_on_the_reply(
    client: httpx.AsyncClient, db: Database, make_merchant: MakeMerchant, tally: TallyPayer
) -> None:
    agent = await make_merchant("staging", balance_cents=50_000)  # as the command line makes it
    await set_policy(db, agent.key_id, HELD)
    *_, asked = await _holds(client, agent, "nobody-1")
    assert asked == 0


@pytest.mark.parametrize("language", ["en", "zh", "ja"])
async def test_a_hold_nobody_was_asked_to_decide_says_so_on_its_page(
    app: ASGIApp, db: Database, make_merchant: MakeMerchant, tally: TallyPayer, language: str
) -> None:
    owner, merchant_id, agent = await _owner_and_agent(app, db, make_merchant)
    await _role(db, merchant_id, "developer")  # nobody of the merchant's may decide
    async with asgi_client(app) as api:
        txn, payment, asked = await _holds(api, agent, f"nobody-{language}")
        assert asked == 0
        for page in await _pages(owner, txn, payment, language):
            assert 'id="unasked"' in page
        await _role(db, merchant_id, "owner")
        # The inbox marks both; the mailbox, where no approval mail came, says two were mailed
        # to nobody.
        assert _marked(await _page(owner, "/topups/approvals", language)) == {txn, payment}
        mailbox = await _page(owner, "/mail", language)
        assert 'id="unasked"' in mailbox and "approval_request" not in mailbox
        assert re.search(r'id="unasked">[^<]*\b2\b', mailbox), mailbox
        held_before = (txn, payment)
        txn, payment, asked = await _holds(api, agent, f"someone-{language}")
        assert asked == 1
        for page in await _pages(owner, txn, payment, language):
            assert 'id="unasked"' not in page
        # The newer two asked someone: only the first two are marked, and their mails are there.
        assert _marked(await _page(owner, "/topups/approvals", language)) == set(held_before)
        mailbox = await _page(owner, "/mail", language)
        assert mailbox.count('data-kind="approval_request"') == 2
        assert re.search(r'id="unasked">[^<]*\b2\b', mailbox), mailbox


@pytest.mark.parametrize("people", [0, 1])
async def test_a_replay_of_a_held_reply_counts_the_people_the_first_asked(
    app: ASGIApp, db: Database, make_merchant: MakeMerchant, tally: TallyPayer, people: int
) -> None:
    """The same ``approvers_asked`` on the first reply and its replays, nobody asked again."""
    owner, merchant_id, agent = await _owner_and_agent(app, db, make_merchant)
    await _role(db, merchant_id, "owner" if people else "developer")
    said = challenge()
    headers = {**agent.headers, "Idempotency-Key": f"sent-{people}"}
    async with asgi_client(app) as api:
        replies = []
        for _ in range(2):
            sent = await api.post("/topup/send", json=SEND, headers=headers)
            paid = await pay(api, agent, f"paid-{people}", said=said)
            assert sent.status_code == 202 and paid.status_code == 202, (sent.text, paid.text)
            replies.append((sent.json(), paid.json()))
    (sent, paid), (sent_again, paid_again) = replies
    assert sent_again["transaction_id"] == sent["transaction_id"]
    assert paid_again["transaction_id"] == paid["transaction_id"]
    for reply in (sent, paid, sent_again, paid_again):
        assert reply["data"]["approvers_asked"] == people, reply
    mailbox = await owner.client.get("/mail")
    assert mailbox.text.count('data-kind="approval_request"') == 2 * people


@pytest.mark.parametrize("kind", ["send", "payment"])
async def test_replays_between_the_holds_commit_and_its_asking_count_the_people_asked(
    app: ASGIApp,
    db: Database,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    """The first reply's asking is held back after the hold committed (an injected pause, no
    race of sleeps): eight replays at once meanwhile count its one approver, one of them asks
    them, and the first reply, let go, counts the same and asks nobody again."""
    _, merchant_id, agent = await _owner_and_agent(app, db, make_merchant)
    paused, go = asyncio.Event(), asyncio.Event()
    real = links.offer
    offers = 0

    async def first_waits(*args: Any, **kwargs: Any) -> Outcome:
        nonlocal offers
        offers += 1
        if offers == 1:  # the first reply's: the hold has committed, nobody is asked yet
            paused.set()
            await go.wait()
        return await real(*args, **kwargs)

    monkeypatch.setattr(links, "offer", first_waits)
    said = challenge()

    async def held(api: httpx.AsyncClient) -> httpx.Response:
        if kind == "send":
            headers = {**agent.headers, "Idempotency-Key": "window"}
            return await api.post("/topup/send", json=SEND, headers=headers)
        return await pay(api, agent, "window", said=said)

    async with asgi_client(app) as api:
        first = asyncio.create_task(held(api))
        await asyncio.wait_for(paused.wait(), timeout=30)
        assert await _approval_mails(db, merchant_id) == 0
        replays = await asyncio.gather(*(held(api) for _ in range(8)))
        go.set()
        replies = [await first, *replays]
    for reply in replies:
        assert reply.status_code == 202, reply.text
        assert reply.json()["data"]["approvers_asked"] == 1, reply.text
    assert len({reply.json()["transaction_id"] for reply in replies}) == 1
    assert offers == 9
    assert await _approval_mails(db, merchant_id) == 1


async def _approval_mails(db: Database, merchant_id: str) -> int:
    async with db.read() as conn:
        found = await conn.execute(
            select(func.count())
            .select_from(_MAIL)
            .where(_MAIL.c.merchant_id == merchant_id, _MAIL.c.kind == "approval_request")
        )
        return int(found.scalar_one())
