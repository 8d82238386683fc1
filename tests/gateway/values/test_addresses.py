"""The plain-address shortcut answers exactly as the full path (email-validator on the folded
address) would."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from gateway.topup.schemas import SendRequest
from gateway.values import addresses


def _verdict(check: object, value: str) -> tuple[str, str]:
    try:
        result = check(value)  # type: ignore[operator]
    except PydanticCustomError as exc:
        return ("refused", str(exc))
    return ("accepted", result if isinstance(result, str) else result[1])


EDGES = [
    "r1@example.com",
    "R1@Example.COM",
    "WWW@0.com",
    "PostMaster@example.com",
    "first.last+tag@mail.example.co.uk",
    "a_b-c@x-y.example",
    "a@b.co",
    "a@b.c",
    "a@b.test",
    "a@b.localhost",
    "a@localhost",
    "a@onion",
    "a@sub.invalid",
    "a@example.arpa",
    "a@b.123",
    "a@1.2.3.4",
    "a@[127.0.0.1]",
    ".a@b.com",
    "a.@b.com",
    "a..b@c.com",
    "a@-b.com",
    "a@b-.com",
    "a@b..com",
    "a@xn--bcher-kva.ch",
    "a@ab--cd.com",
    "a@b.xn--p1ai",
    "x" * 64 + "@example.com",
    "x" * 65 + "@example.com",
    "a@" + "b" * 63 + ".com",
    "a@" + "b" * 64 + ".com",
    "a@" + ".".join(["abcdefghi"] * 25) + ".com",
    '"quoted"@example.com',
    "Jo <jo@example.com>",
    " a@example.com",
    "a@example.com ",
    "a@example.com.",
    "ü@example.com",
    "a@bücher.ch",
    "",
    "@",
    "a@",
    "@b.com",
]


@pytest.mark.parametrize("value", EDGES)
def test_edge_cases_match_the_full_path(value: str) -> None:
    assert _verdict(addresses.normalize, value) == _verdict(addresses.canonical, value)


@settings(max_examples=1500, deadline=None)
@given(
    st.one_of(
        # Mostly plain shapes, so the shortcut is exercised, near its edges.
        st.from_regex(
            r"[A-Za-z0-9_+.\-]{1,12}@[A-Za-z0-9.\-]{1,20}\.(com|co|c|test|local|xn--p1ai|12)",
            fullmatch=True,
        ),
        st.from_regex(r"[A-Za-z0-9_+.\-\"ü ]{0,12}@[A-Za-z0-9.\-ü]{0,20}", fullmatch=True),
    )
)
def test_generated_addresses_match_the_full_path(value: str) -> None:
    assert _verdict(addresses.normalize, value) == _verdict(addresses.canonical, value)


def test_the_send_model_keeps_email_str_behaviour() -> None:
    body = {"platform": "claude", "amount_cents": 1, "recipient_email": "R@Example.COM"}
    assert SendRequest.model_validate(body).recipient_email == "r@example.com"
    with pytest.raises(ValidationError, match="special-use"):
        SendRequest.model_validate({**body, "recipient_email": "r@example.test"})
    schema = SendRequest.model_json_schema()["properties"]["recipient_email"]
    assert schema["format"] == "email" and schema["maxLength"] == 254
