"""A held send's and payment's approval mail is in its approver's language: the person's own
setting, else the merchant's, else English, in the subject, the text and the HTML alike, with
the amount as that language writes it and no English left (``mail.content``)."""

import pytest
from starlette.types import ASGIApp

from gateway.accounts import users
from gateway.merchants import preferences
from gateway.store.engine import Database
from gateway.values.languages import html_lang, money_in
from tests.fixtures.core import asgi_client
from tests.fixtures.dashboard import dashboard_client, sign_up_on
from tests.fixtures.held_payments import HOLDING
from tests.fixtures.languages import latin_left, untranslated
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy
from tests.fixtures.seller_payments import pay
from tests.fixtures.tally_payer import TallyPayer

HELD = {"scopes": ["topup:send", "topup:read", "payments:send"], "approval_above_cents": 10}
SEND = {"platform": "claude", "amount_cents": 900, "recipient_email": "r@ex.com"}
# Each language's words, in the subject, the text and the HTML of a held send's and payment's
# mail.
WORDS = {
    "en": ("Approve {amount} to r@ex.com?", "is held for your approval", "Approve or deny"),
    "zh": (
        "批准向 r@ex.com 的 {amount}？",  # noqa: RUF001 (Chinese punctuation)
        "等待您审批",
        "批准或拒绝",
    ),
    "ja": (
        "r@ex.com への {amount} を承認しますか？",  # noqa: RUF001 (Japanese punctuation)
        "あなたの承認を待っています",
        "承認または拒否",
    ),
}


async def _mails(
    app: ASGIApp, db: Database, make_merchant: MakeMerchant, person: str | None, merchant: str
) -> list[dict[str, str]]:
    """The approval mails of a held send and a held payment, its owner reading ``person`` (none:
    not set) and its merchant's language ``merchant``."""
    owner = await sign_up_on(dashboard_client(app))
    user = await users.check_password(db, owner.email, owner.password)
    assert user is not None
    await users.set_language(db, user.id, person)
    await preferences.set_recipients_language(db, user.merchant_id, merchant)
    agent = await make_merchant("staging", merchant_id=user.merchant_id)
    await set_policy(db, agent.key_id, {**HOLDING, **HELD})
    async with asgi_client(app) as api:
        sent = await api.post("/topup/send", json=SEND, headers=agent.headers)
        assert sent.status_code == 202, sent.text
        paid = await pay(api, agent, f"mail-{person}-{merchant}")
        assert paid.status_code == 202, paid.text
        listed = await api.get("/emails", headers=agent.headers)
    assert listed.status_code == 200, listed.text
    mails = [m for m in listed.json()["data"] if m["kind"] == "approval_request"]
    assert len(mails) == 2, listed.text
    return mails


@pytest.mark.parametrize(
    ("person", "merchant", "language"),
    [("en", "zh", "en"), ("zh", "en", "zh"), ("ja", "zh", "ja"), (None, "ja", "ja")],
)
async def test_the_approval_mail_is_in_its_approvers_language(
    app: ASGIApp,
    db: Database,
    make_merchant: MakeMerchant,
    tally: TallyPayer,
    person: str | None,
    merchant: str,
    language: str,
) -> None:
    subject, held, button = WORDS[language]
    for mail in await _mails(app, db, make_merchant, person, merchant):
        assert f'<html lang="{html_lang(language)}">' in mail["html"]
        assert held in mail["text"] and held in mail["html"], mail["text"]
        assert button in mail["html"]
        if "payment" not in mail["subject"] and "r@ex.com" in mail["subject"]:
            assert mail["subject"].startswith(subject.format(amount=money_in(900, language))), mail[
                "subject"
            ]
        if language != "en":
            for body in (mail["subject"], mail["text"], mail["html"]):
                assert not untranslated(body, language), untranslated(body, language)
            assert not latin_left(mail["html"]), latin_left(mail["html"])
            assert not latin_left(mail["text"]), latin_left(mail["text"])
