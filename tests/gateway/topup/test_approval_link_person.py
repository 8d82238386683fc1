"""A mailed approval link acts only for the person it was sent to. In staging one owner can read
another owner's approval mail in the mailbox: the mailbox shows them the mail without its link,
and the link itself, opened or posted while another person is signed in, is refused with a page
saying so (403, 4564), nothing decided and the link left for its addressee, who decides with it
as themselves. Opened signed out, it decides as its addressee, as a mailed link always has."""

import re
from html import unescape

from sqlalchemy import select
from starlette.types import ASGIApp

from gateway.accounts import users
from gateway.store.engine import Database
from gateway.store.models import ApprovalLink, Mail, table_of
from gateway.values.code_names import Code
from tests.fixtures.approval_links import (
    HELD,
    LINK,
    SEALER,
    approval_tokens,
    held_topup,
    status_and_decider,
)
from tests.fixtures.dashboard import Account, csrf_of, join_as, sign_up_on, user_id_of
from tests.fixtures.dashboard import dashboard_client as _dashboard
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced
from tests.fixtures.policies import set_policy

_M, _L = table_of(Mail), table_of(ApprovalLink)


async def _mail_of(db: Database, merchant_id: str, token: str) -> str:
    """The id of the approval mail carrying ``token``."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(_M.c.id, _M.c.data_sealed).where(
                    _M.c.kind == "approval_request", _M.c.merchant_id == merchant_id
                )
            )
        ).all()
    [found] = [r.id for r in rows if token in SEALER.open(r.data_sealed, context=r.id)]
    return str(found)


async def _used(db: Database) -> int:
    async with db.read() as conn:
        found = await conn.execute(select(_L.c.token_hash).where(_L.c.used_at.is_not(None)))
        return len(found.all())


async def test_another_owners_link_is_refused_to_a_signed_in_owner_and_decides_for_its_own(
    db: Database, app: ASGIApp, make_merchant: MakeMerchant
) -> None:
    first = await sign_up_on(_dashboard(app))
    second: Account = await join_as(app, first, "owner")
    user = await users.check_password(db, first.email, first.password)
    assert user is not None
    agent = await make_merchant("staging", merchant_id=user.merchant_id)
    await set_policy(db, agent.key_id, HELD)
    txn = await held_topup(app, agent)
    tokens = await approval_tokens(db, txn)
    theirs = tokens[second.email]
    used_before = await _used(db)

    # The staging mailbox: the first owner reads the second's mail without its link, and
    # their own with it.
    other_mail = await first.client.get(f"/mail/{await _mail_of(db, user.merchant_id, theirs)}")
    assert other_mail.status_code == 200, other_mail.text
    assert 'id="mail-link"' not in other_mail.text and "apl_" not in other_mail.text
    own = await first.client.get(
        f"/mail/{await _mail_of(db, user.merchant_id, tokens[first.email])}"
    )
    found = re.search(r'id="mail-link" href="([^"]+)"', own.text)
    assert found is not None and LINK.search(unescape(found.group(1))) is not None, own.text

    # The second owner's link, opened and posted by the first, signed in: refused, saying so.
    page = await first.client.get("/approval", params={"token": theirs})
    assert page.status_code == 403, page.text
    assert f'data-code="{int(Code.APPROVAL_LINK_NOT_YOURS)}"' in page.text
    assert 'id="link-someone-else"' in page.text
    csrf = csrf_of((await first.client.get("/")).text)
    for decision in ("approve", "deny"):
        posted = await first.client.post(
            "/approval", data={"csrf_token": csrf, "token": theirs, "decision": decision}
        )
        assert posted.status_code == 403, posted.text
        assert 'id="link-someone-else"' in posted.text
    assert await status_and_decider(db, txn) == ("pending_approval", None)
    assert await _used(db) == used_before  # the link is left for its addressee

    # Its addressee, signed in, decides with it, as themselves.
    mine = await second.client.get("/approval", params={"token": theirs})
    assert mine.status_code == 200, mine.text
    done = await second.client.post(
        "/approval",
        data={"csrf_token": csrf_of(mine.text), "token": theirs, "decision": "approve"},
    )
    assert done.status_code == 200 and 'id="decided"' in done.text, done.text
    status, decided_by = await status_and_decider(db, txn)
    assert status == "delivered"
    assert decided_by == f"user:{await user_id_of(db, second.email)}"
    await assert_ledger_balanced(db)
