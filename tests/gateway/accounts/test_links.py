"""A one-time account link is spent only by what it does: a password reset link, or an
invitation's password-set link, opened by a person who is no longer a member of any merchant is
refused with nothing changed and the link left as it was (it works once they are a member
again, until it expires). On both stores."""

import uuid

import pytest
from sqlalchemy import delete, insert, select

from gateway.accounts import resets, users
from gateway.store.engine import Database
from gateway.store.models import MerchantUser, PasswordReset, User, table_of
from gateway.values.clock import utcnow
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from tests.fixtures.merchants import MakeMerchant

_U, _MU, _R = table_of(User), table_of(MerchantUser), table_of(PasswordReset)
PASSWORD = "a long enough passphrase"


async def _leave(db: Database, user_id: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(delete(_MU).where(_MU.c.user_id == user_id))


async def _rejoin(db: Database, user_id: str, merchant_id: str) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            insert(_MU).values(
                merchant_id=merchant_id, user_id=user_id, role="owner", created_at=utcnow()
            )
        )


async def _password_of(db: Database, user_id: str) -> str | None:
    async with db.read() as conn:
        found = await conn.execute(select(_U.c.password_hash).where(_U.c.id == user_id))
        return found.scalar_one()  # type: ignore[no-any-return]


async def test_a_reset_link_of_a_former_member_is_refused_unspent(
    db: Database, settings: Settings, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    email = f"former-{uuid.uuid4().hex[:10]}@shop.example"
    invited = await users.invite(db, merchant_id=merchant.merchant_id, email=email)
    await users.set_password(db, invited.token or "", PASSWORD)
    found = await resets.issue_reset(db, settings, email)
    assert found is not None
    token, _ = found
    stored = await _password_of(db, invited.user_id)
    await _leave(db, invited.user_id)
    with pytest.raises(ApiError) as refused:
        await resets.reset_password(db, token, PASSWORD + " anew")
    assert refused.value.code == Code.ACCOUNT_LINK_INVALID
    assert await _password_of(db, invited.user_id) == stored
    async with db.read() as conn:
        used = await conn.execute(select(_R.c.used_at).where(_R.c.user_id == invited.user_id))
        assert [u for (u,) in used] == [None]
    await _rejoin(db, invited.user_id, merchant.merchant_id)
    done = await resets.reset_password(db, token, PASSWORD + " anew")
    assert done.code == Code.PASSWORD_RESET_DONE


async def test_an_invitations_password_link_of_a_former_member_is_refused_unspent(
    db: Database, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    email = f"gone-{uuid.uuid4().hex[:10]}@shop.example"
    invited = await users.invite(db, merchant_id=merchant.merchant_id, email=email)
    assert invited.token is not None
    await _leave(db, invited.user_id)
    with pytest.raises(ApiError) as refused:
        await users.set_password(db, invited.token, PASSWORD)
    assert refused.value.code == Code.ACCOUNT_LINK_INVALID
    assert await _password_of(db, invited.user_id) is None
    assert (await users.invitee(db, invited.token)).data == email  # still live
    await _rejoin(db, invited.user_id, merchant.merchant_id)
    assert (await users.set_password(db, invited.token, PASSWORD)).code == Code.SUCCESS
