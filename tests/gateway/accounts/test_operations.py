"""The account operations answer an ``Outcome`` or refuse with a code of the catalogue, below
the dashboard that renders them (its pages: ``tests/gateway/dashboard``)."""

import uuid

import pytest

from gateway.accounts import fields, passwords, resets, sessions, users
from gateway.holds import registry
from gateway.store.engine import Database
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from tests.fixtures.dashboard import reset_token

PASSWORD = "correct horse battery staple"


async def _account(db: Database, settings: Settings) -> str:
    email = f"ops-{uuid.uuid4().hex[:10]}@example.com"
    made = await users.sign_up(
        db, settings, email=email, password=PASSWORD, merchant_name="Operations"
    )
    assert made.code == Code.SIGNED_UP
    return email


async def _loaded(db: Database, session_id: str) -> sessions.SessionInfo | None:
    found = (await sessions.load(db, session_id, registry.held_tables())).data
    return found if isinstance(found, sessions.SessionInfo) else None


async def test_sign_up_answers_alike_whether_the_address_is_new_or_known(
    db: Database, settings: Settings
) -> None:
    email = await _account(db, settings)
    again = await users.sign_up(
        db, settings, email=email.upper(), password="another password", merchant_name="Other"
    )
    assert (again.code, again.data) == (Code.SIGNED_UP, None)
    # Nothing was made the second time: the first password still signs in, the first merchant.
    user = await users.check_password(db, email, PASSWORD)
    assert user is not None and user.merchant_name == "Operations"
    assert await users.check_password(db, email, "another password") is None


async def test_sign_in_starts_a_session_and_ends_the_one_it_came_with(
    db: Database, settings: Settings
) -> None:
    email = await _account(db, settings)
    with pytest.raises(ApiError) as refused:
        await users.sign_in(db, email, "not the password")
    assert refused.value.code == Code.SIGN_IN_FAILED
    first = (await users.sign_in(db, email, PASSWORD)).one(str)
    second = await users.sign_in(db, email, PASSWORD, ending=first)
    assert second.code == Code.CREATED
    loaded = await _loaded(db, second.one(str))
    assert loaded is not None and loaded.email == email and loaded.role == "owner"
    assert await _loaded(db, first) is None


async def test_a_change_of_password_refuses_a_wrong_one_and_ends_the_other_sessions(
    db: Database, settings: Settings
) -> None:
    email = await _account(db, settings)
    kept = (await users.sign_in(db, email, PASSWORD)).one(str)
    other = (await users.sign_in(db, email, PASSWORD)).one(str)
    here = await _loaded(db, kept)
    assert here is not None
    new = "a brand new password"
    with pytest.raises(ApiError) as refused:
        await users.change_password(db, here.user_id, "wrong", new, keeping=here.id_hash)
    assert refused.value.code == Code.PASSWORD_INCORRECT
    assert await _loaded(db, other) is not None, "a refused change ends nothing"
    with pytest.raises(fields.AccountError) as short:
        await users.change_password(db, here.user_id, PASSWORD, "short", keeping=here.id_hash)
    assert short.value.field == "password"
    changed = await users.change_password(db, here.user_id, PASSWORD, new, keeping=here.id_hash)
    assert changed.code == Code.SUCCESS
    assert await _loaded(db, kept) is not None
    assert await _loaded(db, other) is None
    assert await users.check_password(db, email, new) is not None


async def test_links_and_invitations_that_do_not_exist_are_refused_with_their_codes(
    db: Database, settings: Settings
) -> None:
    email = await _account(db, settings)
    user = await users.check_password(db, email, PASSWORD)
    assert user is not None
    for unknown in (
        users.invitee(db, "no-such-token"),
        users.set_password(db, "no-such-token", PASSWORD),
        resets.resetting(db, "no-such-token"),
        resets.reset_password(db, "no-such-token", PASSWORD),
    ):
        with pytest.raises(ApiError) as refused:
            await unknown
        assert refused.value.code == Code.ACCOUNT_LINK_INVALID
    with pytest.raises(ApiError) as none:
        await users.accept_invitation(db, user.id, user.merchant_id, "no-such-token")
    assert none.value.code == Code.INVITATION_NOT_FOUND
    waiting = await users.pending_invitations(db, user.id)
    assert waiting.many(users.PendingInvitation) == []


async def test_a_form_refusal_is_a_validation_failure_naming_its_field(db: Database) -> None:
    with pytest.raises(fields.AccountError) as bad:
        await users.invite(db, merchant_id="mer_nope", email="not an address")
    assert bad.value.code == Code.VALIDATION_FAILED
    assert bad.value.field == "email"
    assert bad.value.data == {
        "errors": [{"loc": ["email"], "type": "value_error", "msg": bad.value.sentence}]
    }
    with pytest.raises(fields.AccountError) as gone:
        await users.invite(db, merchant_id="mer_nope", email="a@example.com")
    assert (gone.value.code, gone.value.field, gone.value.data) == (
        Code.MERCHANT_NOT_FOUND,
        "merchant",
        None,
    )
    assert str(gone.value) == "No such merchant."


# Two under 12 characters: the rule names what a guesser knows first, not only the length.
COMMON = ["password123", "qwertyuiop", "qwerty123456", "LeaveMeAlone", "1Q2W3E4R5T6Y"]


@pytest.mark.parametrize("common", COMMON)
async def test_a_common_password_is_refused_wherever_a_password_is_chosen(
    db: Database, settings: Settings, common: str
) -> None:
    email = await _account(db, settings)
    user = await users.check_password(db, email, PASSWORD)
    assert user is not None
    invited = await users.invite(
        db, merchant_id=user.merchant_id, email=f"inv-{uuid.uuid4().hex[:10]}@example.com"
    )
    assert invited.token is not None
    reset = await reset_token(db, user.id)
    for choosing in (
        users.sign_up(
            db,
            settings,
            email=f"new-{uuid.uuid4().hex[:10]}@example.com",
            password=common,
            merchant_name="Common",
        ),
        users.set_password(db, invited.token, common),
        resets.reset_password(db, reset, common),
        users.change_password(db, user.id, PASSWORD, common),
    ):
        with pytest.raises(fields.AccountError) as refused:
            await choosing
        assert refused.value.field == "password"
        assert "commonest" in refused.value.sentence
    # Nothing changed: the old password signs in, both links still work.
    assert await users.check_password(db, email, PASSWORD) is not None
    assert (await users.invitee(db, invited.token)).code == Code.SUCCESS
    assert (await resets.resetting(db, reset)).code == Code.SUCCESS


# Each judged as it shows (NFKC): one character repeated, spaces or invisible characters alone,
# a sequence, and an accent typed apart from its letter, which is still one ``é``.
WEAK = {
    "aaaaaaaaaaaa": "One character repeated",
    " " * 12: "Spaces and invisible characters alone",
    "\u3000" * 12: "Spaces and invisible characters alone",
    "\u200b" * 12: "Spaces and invisible characters alone",
    "é" * 12: "One character repeated",
    "e\u0301" * 12: "One character repeated",
    "e\u0301" * 6: "Use at least 12 characters",
    "abcabcabcabc": "a pattern a guesser tries early",
    "123456789012": "a pattern a guesser tries early",
}


@pytest.mark.parametrize("weak", list(WEAK))
async def test_a_repetitive_or_blank_password_is_refused_wherever_a_password_is_chosen(
    db: Database, settings: Settings, weak: str
) -> None:
    email = await _account(db, settings)
    user = await users.check_password(db, email, PASSWORD)
    assert user is not None
    invited = await users.invite(
        db, merchant_id=user.merchant_id, email=f"inv-{uuid.uuid4().hex[:10]}@example.com"
    )
    assert invited.token is not None
    reset = await reset_token(db, user.id)
    newcomer = f"new-{uuid.uuid4().hex[:10]}@example.com"
    for choosing in (
        users.sign_up(db, settings, email=newcomer, password=weak, merchant_name="Weak"),
        users.set_password(db, invited.token, weak),
        resets.reset_password(db, reset, weak),
        users.change_password(db, user.id, PASSWORD, weak),
    ):
        with pytest.raises(fields.AccountError) as refused:
            await choosing
        assert refused.value.field == "password"
        assert WEAK[weak] in refused.value.sentence
    # Nothing changed: no account for the newcomer, the old password signs in, both links work.
    assert await users.check_password(db, newcomer, weak) is None
    assert await users.check_password(db, email, PASSWORD) is not None
    assert (await users.invitee(db, invited.token)).code == Code.SUCCESS
    assert (await resets.resetting(db, reset)).code == Code.SUCCESS


def test_the_password_rule_in_one_place() -> None:
    assert passwords.problem("a fine long passphrase") is None
    assert passwords.problem("short pass") == "Use at least 12 characters."
    assert passwords.problem("x" * 1025) == "Use at most 1024 characters."
    # The sentences are written out whole for the catalogues: they must say the bounds.
    assert str(passwords.MIN_LENGTH) in (passwords.problem("short pass") or "")
    assert str(passwords.MAX_LENGTH) in (passwords.problem("x" * 1025) or "")
    assert "commonest" in (passwords.problem("PASSWORD123") or "")
    # Judged as it shows, hashed as typed: twelve letters with their accents typed apart pass.
    assert passwords.problem("re\u0301sume\u0301 of mine") is None
