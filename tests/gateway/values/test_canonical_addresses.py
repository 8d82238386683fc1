"""One canonical form per mailbox (NFKC, case-folded), the bare address only; and the send
stores, and credits, that one form. Both stores for the send."""

import uuid

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic.networks import validate_email
from pydantic_core import PydanticCustomError

from gateway.store.engine import Database
from gateway.topup.schemas import SendRequest
from gateway.values import addresses
from tests.fixtures.addresses import EDGES
from tests.fixtures.merchants import MakeMerchant, merchant_balance


@pytest.mark.parametrize(
    "spelling",
    [
        "ann@example.com",
        "Ann@Example.com",
        "ANN@EXAMPLE.COM",
        "\uff41\uff4e\uff4e@example.com",  # full-width letters
        "ann@\uff45xample.com",
        "ann\uff20example.com",  # full-width at sign
        " ann@example.com ",
    ],
)
def test_every_spelling_of_a_mailbox_has_one_form(spelling: str) -> None:
    assert addresses.normalize(spelling) == "ann@example.com"


def test_case_folding_goes_past_lower_casing() -> None:
    assert addresses.normalize("Stra\u00dfe@example.com") == "strasse@example.com"
    assert addresses.normalize("STRASSE@example.com") == "strasse@example.com"
    assert addresses.normalize("A@B\u00dcCHER.CH") == addresses.normalize("a@xn--bcher-kva.ch")


@pytest.mark.parametrize(
    "value",
    [
        '"Ann" <ann@example.com>',
        "Ann <ann@example.com>",
        "Ann Lee <ann@example.com>",
        "<ann@example.com>",
        "\uff1cann@example.com\uff1e",  # full-width angle brackets
        "ann@example.com>",
    ],
)
def test_the_display_name_form_is_refused(value: str) -> None:
    with pytest.raises(PydanticCustomError, match="bare address"):
        addresses.normalize(value)
    body = {"platform": "claude", "amount_cents": 1, "recipient_email": value}
    with pytest.raises(ValidationError):
        SendRequest.model_validate(body)


@pytest.mark.parametrize("value", [e for e in EDGES if e.isascii() and "<" not in e])
def test_email_validator_still_judges_every_address(value: str) -> None:
    """Folding changes the case of plain addresses, never email-validator's verdict on them."""
    try:
        expected = validate_email(value)[1].lower()
    except PydanticCustomError:
        with pytest.raises(PydanticCustomError):
            addresses.normalize(value)
        return
    assert addresses.normalize(value) == expected


@settings(max_examples=1000, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30).map(lambda s: s + "@example.com")
)
def test_the_canonical_form_is_its_own_canonical_form(value: str) -> None:
    try:
        once = addresses.normalize(value)
    except PydanticCustomError:
        return
    assert addresses.normalize(once) == once
    assert addresses.canonical(once) == once


async def test_spellings_of_one_mailbox_credit_one_wallet(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant(balance_cents=1_000)
    local = f"ann{uuid.uuid4().hex[:8]}"
    first = await client.post(
        "/topup/send",
        json={"platform": "claude", "amount_cents": 100, "recipient_email": f"{local}@example.com"},
        headers=merchant.headers,
    )
    shouted = "".join(chr(ord(c) + 0xFEE0) if c.isalpha() else c for c in local.upper())
    second = await client.post(
        "/topup/send",
        json={
            "platform": "claude",
            "amount_cents": 50,
            "recipient_email": f"{shouted}@EXAMPLE.com",
        },
        headers=merchant.headers,
    )
    assert [first.status_code, second.status_code] == [200, 200]
    assert second.json()["data"]["new_balance_cents"] == 150  # the same recipient wallet
    stored = await client.get(f"/topup/{second.json()['transaction_id']}", headers=merchant.headers)
    assert stored.json()["data"]["recipient_email"] == f"{local}@example.com"

    refused = await client.post(
        "/topup/send",
        json={
            "platform": "claude",
            "amount_cents": 100,
            "recipient_email": f'"Ann" <{local}@example.com>',
        },
        headers=merchant.headers,
    )
    assert (refused.status_code, refused.json()["code"]) == (422, 3001)
    assert await merchant_balance(db, merchant) == 850
