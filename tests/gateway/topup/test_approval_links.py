"""A held send's one-time decision link, mailed to each approver: it reaches a real SMTP server,
its page shows the send and decides nothing, its form decides once (twenty clicks at once decide
once), and a used, expired, altered or orphaned link does nothing; the store keeps no token."""

import asyncio
import re
import uuid
from datetime import timedelta
from html import unescape
from types import SimpleNamespace
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import select, update
from starlette.types import ASGIApp

from gateway.accounts import users
from gateway.mail.content import compose
from gateway.store.engine import Database
from gateway.store.models import ApprovalLink, Mail, MerchantUser, Topup, User, table_of
from gateway.topup import approvals
from gateway.values.clock import utcnow
from keys import parse_api_key
from tests.fixtures.approval_links import (
    HELD,
    LINK,
    SEALER,
    approval_tokens,
    held_topup,
    status_and_decider,
)
from tests.fixtures.core import asgi_client, wait_until
from tests.fixtures.dashboard import (
    client_from,
    csrf_of,
    dashboard_client,
    join_as,
    sign_up_on,
    user_id_of,
)
from tests.fixtures.mail import Inbox, html_of, text_of
from tests.fixtures.merchants import MakeMerchant, MerchantKey, add_member, assert_ledger_balanced
from tests.fixtures.policies import set_policy
from tests.fixtures.workers import StartWorker

_M, _T, _L = table_of(Mail), table_of(Topup), table_of(ApprovalLink)
_U, _MU = table_of(User), table_of(MerchantUser)


def _browser(app: ASGIApp) -> httpx.AsyncClient:
    """A browser at an address of its own: one-time links are counted per client address in a
    window every test shares."""
    return client_from(app, f"203.0.113.{uuid.uuid4().int % 250 + 1}")


async def _agent(db: Database, make_merchant: MakeMerchant, env: str = "staging") -> MerchantKey:
    agent = await make_merchant(env, balance_cents=50_000)
    await set_policy(db, agent.key_id, HELD)
    return agent


async def _member(db: Database, merchant_id: str, role: str) -> str:
    email = await add_member(db, merchant_id)
    async with db.transaction() as conn:
        user_id = (await conn.execute(select(_U.c.id).where(_U.c.email == email))).scalar_one()
        await conn.execute(
            update(_MU)
            .where(_MU.c.user_id == user_id, _MU.c.merchant_id == merchant_id)
            .values(role=role)
        )
    return email


async def _click(browser: httpx.AsyncClient, token: str, decision: str) -> httpx.Response:
    page = await browser.get("/approval", params={"token": token})
    csrf = (
        csrf_of(page.text)
        if page.status_code == 200
        else csrf_of((await browser.get("/sign-in")).text)
    )
    return await browser.post(
        "/approval", data={"csrf_token": csrf, "token": token, "decision": decision}
    )


async def test_a_live_held_send_mails_each_approver_a_link_that_decides_once(
    db: Database,
    app: ASGIApp,
    make_merchant: MakeMerchant,
    start_worker: StartWorker,
    smtp_server: Inbox,
) -> None:
    agent = await _agent(db, make_merchant, "live")
    owner = await _member(db, agent.merchant_id, "owner")
    await _member(db, agent.merchant_id, "developer")  # may not decide: no mail
    await start_worker(smtp_url=SecretStr(smtp_server.url))
    txn = await held_topup(app, agent)

    async def mailed() -> bool:
        return len(smtp_server.received) >= 1

    await wait_until(mailed)
    [message] = smtp_server.received
    assert message["To"] == owner
    assert "$9.00" in message["Subject"] and "r@ex.com" in message["Subject"]
    found = LINK.search(text_of(message))
    assert found is not None and found.group(1) in html_of(message).replace("&amp;", "&")
    path, token = found.group(1), found.group(2)
    assert txn in text_of(message)

    async with _browser(app) as browser:
        # Opening the link (a mail scanner, a preview) shows the send and decides nothing.
        for _ in range(2):
            shown = await browser.get(path)
            assert shown.status_code == 200, shown.text
            assert shown.headers["cache-control"].startswith("no-store")
            assert 'id="amount">$9.00<' in shown.text and 'id="recipient">r@ex.com<' in shown.text
            assert parse_api_key(agent.key).display_prefix in shown.text  # the sender key
        assert await status_and_decider(db, txn) == ("pending_approval", None)

        done = await browser.post(
            "/approval",
            data={"csrf_token": csrf_of(shown.text), "token": token, "decision": "approve"},
        )
        assert done.status_code == 200 and 'id="decided"' in done.text, done.text
        status, decided_by = await status_and_decider(db, txn)
        assert status == "delivered" and decided_by is not None and decided_by.startswith("user:")

        # Used: the page and the form do nothing more.
        assert (await browser.get(path)).status_code == 404
        again = await browser.post(
            "/approval",
            data={"csrf_token": csrf_of(shown.text), "token": token, "decision": "deny"},
        )
        assert again.status_code == 404 and "decides nothing" in again.text
    assert (await status_and_decider(db, txn))[0] == "delivered"
    await assert_ledger_balanced(db)


async def test_twenty_concurrent_clicks_decide_once(
    db: Database, app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    agent = await _agent(db, make_merchant)
    owner = await _member(db, agent.merchant_id, "owner")
    txn = await held_topup(app, agent)
    token = (await approval_tokens(db, txn))[owner]
    async with _browser(app) as browser:
        page = await browser.get("/approval", params={"token": token})
        assert page.status_code == 200
        csrf = csrf_of(page.text)
        clicks = await asyncio.gather(
            *(
                browser.post(
                    "/approval",
                    data={
                        "csrf_token": csrf,
                        "token": token,
                        "decision": "approve" if n % 2 else "deny",
                    },
                )
                for n in range(20)
            )
        )
    codes = sorted(c.status_code for c in clicks)
    assert codes == [200] + [404] * 19, codes
    [winner] = [c for c in clicks if c.status_code == 200]
    status, _ = await status_and_decider(db, txn)
    assert status == ("delivered" if "Approved" in winner.text else "denied")
    async with db.read() as conn:
        used = (await conn.execute(select(_L.c.used_at).where(_L.c.held_id == txn))).all()
    assert len(used) == 1 and used[0].used_at is not None
    await assert_ledger_balanced(db)


async def test_an_altered_expired_or_orphaned_link_does_nothing(
    db: Database, app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    agent = await _agent(db, make_merchant)
    owner = await _member(db, agent.merchant_id, "owner")
    other = await _member(db, agent.merchant_id, "owner")
    first, expiring, held = [await held_topup(app, agent, c) for c in (700, 800, 900)]
    async with _browser(app) as browser:
        token = (await approval_tokens(db, first))[owner]
        altered = token[:-1] + ("A" if token[-1] != "A" else "B")
        assert (await browser.get("/approval", params={"token": altered})).status_code == 404
        assert (await _click(browser, altered, "approve")).status_code == 404
        assert (await browser.get("/approval", params={"token": "x" * 5000})).status_code == 404

        # The hold's window closed (the sweep has not run yet): the link ended with it.
        async with db.transaction() as conn:
            await conn.execute(
                update(_T)
                .where(_T.c.id == expiring)
                .values(approval_expires_at=utcnow() - timedelta(seconds=1))
            )
        late = (await approval_tokens(db, expiring))[owner]
        assert (await browser.get("/approval", params={"token": late})).status_code == 404
        assert (await _click(browser, late, "approve")).status_code == 404
        assert (await status_and_decider(db, expiring))[0] == "pending_approval"
        # The sweep refunds it, as it would have (no test after this one finds it due).
        assert await approvals.expire(db, expiring, utcnow()) is not None
        assert (await _click(browser, late, "deny")).status_code == 404

        # A member who lost the role decides nothing with the link mailed to them.
        async with db.transaction() as conn:
            await conn.execute(
                update(_MU)
                .where(
                    _MU.c.merchant_id == agent.merchant_id,
                    _MU.c.user_id == select(_U.c.id).where(_U.c.email == other).scalar_subquery(),
                )
                .values(role="viewer")
            )
        demoted = (await approval_tokens(db, held))[other]
        assert (await _click(browser, demoted, "approve")).status_code == 404
        # Decided elsewhere (by another approver's link): every other link is spent with it.
        mine = (await approval_tokens(db, held))[owner]
        assert (await _click(browser, mine, "deny")).status_code == 200
        assert (await status_and_decider(db, held))[0] == "denied"
    assert (await status_and_decider(db, first))[0] == "pending_approval"


async def test_no_token_at_rest_and_the_mailbox_shows_no_link(
    db: Database, app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    agent = await _agent(db, make_merchant)
    owner = await _member(db, agent.merchant_id, "owner")
    txn = await held_topup(app, agent)
    token = (await approval_tokens(db, txn))[owner]
    async with db.read() as conn:
        links = (await conn.execute(select(_L).where(_L.c.held_id == txn))).all()
        mail = (
            await conn.execute(
                select(_M).where(
                    _M.c.kind == "approval_request", _M.c.merchant_id == agent.merchant_id
                )
            )
        ).one()
        assert mail.status == "staged"  # staging mail never leaves the gateway
        every = " ".join(str(v) for row in links for v in row) + str(tuple(mail))
        assert token not in every and token[4:] not in every
        # As the staging mailbox shows it to a reader who may not decide it: the send, no link.
        reader: Any = SimpleNamespace(decides_holds=lambda: False)
        shown = await compose(
            conn,
            SEALER,
            mail,
            base_url="http://x",
            link_ttl_seconds=60,
            now=utcnow(),
            reader=reader,
        )
    assert shown is not None and shown.link is None
    assert "apl_" not in shown.rendered.text and "apl_" not in shown.rendered.html
    assert "$9.00" in shown.rendered.text
    # The staging mailbox's own door lists it so, to the merchant's keys.
    async with asgi_client(app) as api:
        listed = await api.get("/emails", headers=agent.headers)
    assert listed.status_code == 200, listed.text
    [request] = [m for m in listed.json()["data"] if m["kind"] == "approval_request"]
    assert request["link"] is None and "apl_" not in request["text"] + request["html"]


async def test_the_staging_mailbox_shows_the_link_to_whoever_may_decide_and_it_decides(
    db: Database, app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    """Approving by mail tried on staging: the owner reads the approval mail in the staging
    mailbox, follows its link and approves; a developer (who may not decide) reads the mail
    without it; a key sees it in ``GET /emails`` only with the ``approvals`` scope."""
    owner = await sign_up_on(dashboard_client(app))
    developer = await join_as(app, owner, "developer")
    user = await users.check_password(db, owner.email, owner.password)
    assert user is not None
    agent = await make_merchant("staging", merchant_id=user.merchant_id)
    await set_policy(db, agent.key_id, HELD)
    deciding = await make_merchant("staging", merchant_id=user.merchant_id)
    await set_policy(db, deciding.key_id, {"scopes": ["topup:read", "approvals"]})
    txn = await held_topup(app, agent)
    async with db.read() as conn:
        [mail_id] = (
            await conn.execute(
                select(_M.c.id).where(
                    _M.c.kind == "approval_request", _M.c.merchant_id == user.merchant_id
                )
            )
        ).scalars()

    unseen = await developer.client.get(f"/mail/{mail_id}")
    assert unseen.status_code == 200, unseen.text
    assert 'id="mail-link"' not in unseen.text and "apl_" not in unseen.text
    seen = await owner.client.get(f"/mail/{mail_id}")
    assert seen.status_code == 200, seen.text
    found = re.search(r'id="mail-link" href="([^"]+)"', seen.text)
    assert found is not None, seen.text
    link = LINK.search(unescape(found.group(1)))
    assert link is not None and link.group(2) in seen.text.replace("&amp;", "&")

    async with asgi_client(app) as api:
        for key, shown in ((agent, False), (deciding, True)):
            listed = await api.get("/emails", headers=key.headers)
            assert listed.status_code == 200, listed.text
            [mail] = [m for m in listed.json()["data"] if m["kind"] == "approval_request"]
            assert (mail["link"] is not None) is shown, mail
            assert ("apl_" in mail["text"]) is shown

    async with _browser(app) as browser:
        page = await browser.get(link.group(1))
        assert page.status_code == 200, page.text
        done = await browser.post(
            "/approval",
            data={"csrf_token": csrf_of(page.text), "token": link.group(2), "decision": "approve"},
        )
        assert done.status_code == 200 and 'id="decided"' in done.text, done.text
    status, decided_by = await status_and_decider(db, txn)
    assert status == "delivered"
    assert decided_by == f"user:{await user_id_of(db, owner.email)}"
    await assert_ledger_balanced(db)


async def test_a_link_shows_the_budgets_its_send_draws_on(
    db: Database, app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    agent = await make_merchant("staging", balance_cents=50_000)
    owner = await _member(db, agent.merchant_id, "owner")
    async with asgi_client(app) as api:
        made = await api.post(
            "/budgets",
            json={
                "name": "Agents",
                "windows": {"limits": [{"amount_cents": 5000, "interval": "daily"}]},
            },
            headers=agent.headers,
        )
    assert made.status_code == 201, made.text
    await set_policy(db, agent.key_id, {**HELD, "budgets": [made.json()["data"]["id"]]})
    txn = await held_topup(app, agent)
    async with _browser(app) as browser:
        shown = await browser.get(
            "/approval", params={"token": (await approval_tokens(db, txn))[owner]}
        )
    assert shown.status_code == 200, shown.text
    assert 'id="budgets">Agents<' in shown.text


async def test_a_link_used_while_frozen_is_refused_unspent_and_decides_once_unfrozen(
    db: Database, app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    """Twenty approvals at once while frozen: each refused (423), the link unspent; twenty at
    once after the unfreeze: exactly one decides."""
    agent = await _agent(db, make_merchant)
    person = await make_merchant("staging", merchant_id=agent.merchant_id)  # may (un)freeze
    owner = await _member(db, agent.merchant_id, "owner")
    txn = await held_topup(app, agent)
    token = (await approval_tokens(db, txn))[owner]

    async def twenty(browser: httpx.AsyncClient) -> list[httpx.Response]:
        page = await browser.get("/approval", params={"token": token})
        assert page.status_code == 200
        form = {"csrf_token": csrf_of(page.text), "token": token, "decision": "approve"}
        return await asyncio.gather(*(browser.post("/approval", data=form) for _ in range(20)))

    async with asgi_client(app) as api, _browser(app) as browser:
        frozen = await api.post("/freeze", json={}, headers=person.headers)
        assert frozen.status_code == 200 and frozen.json()["data"]["held_cancelled"] == 0
        refused = await twenty(browser)
        assert {r.status_code for r in refused} == {423}
        assert all('id="link-frozen" data-code="2360"' in r.text for r in refused)
        assert await status_and_decider(db, txn) == ("pending_approval", None)
        async with db.read() as conn:
            used = (await conn.execute(select(_L.c.used_at).where(_L.c.held_id == txn))).all()
        assert [u.used_at for u in used] == [None]

        assert (await api.delete("/freeze", headers=person.headers)).status_code == 200
        clicks = await twenty(browser)
        assert sorted(c.status_code for c in clicks) == [200] + [404] * 19
    status, decided_by = await status_and_decider(db, txn)
    assert status == "delivered" and decided_by is not None and decided_by.startswith("user:")
    await assert_ledger_balanced(db)
