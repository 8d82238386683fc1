"""The plain-address shortcut answers exactly as the full path (email-validator on the folded
address) would."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from gateway.topup.schemas import SendRequest
from gateway.values import addresses
from tests.fixtures.addresses import EDGES


def _verdict(check: object, value: str) -> tuple[str, str]:
    try:
        result = check(value)  # type: ignore[operator]
    except PydanticCustomError as exc:
        return ("refused", str(exc))
    return ("accepted", result if isinstance(result, str) else result[1])


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
