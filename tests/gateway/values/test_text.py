"""Text from outside: a NUL found at any depth of a body or a query, a line without controls."""

import pytest

from gateway.values.text import holds_nul, one_line, query_holds_nul


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("plain", False),
        ({"a": ["b", {"c": "d"}]}, False),
        ({"a": ["b", {"c": "d\x00"}]}, True),
        ({"k\x00": 1}, True),
        ([[[["\x00"]]]], True),
        ({"n": 1, "f": 1.5, "t": True, "z": None}, False),
    ],
)
def test_a_nul_is_found_in_any_string_of_a_body(value: object, found: bool) -> None:
    assert holds_nul(value) is found


@pytest.mark.parametrize(
    ("query", "found"),
    [
        (b"a=1&b=2", False),
        (b"a=%00", True),
        (b"a%00=1", True),
        (b"a=%2500", False),  # a percent sign and two zeros, as text
        ("a=x\x00", True),
    ],
)
def test_a_nul_is_found_in_a_query_once_decoded(query: bytes | str, found: bool) -> None:
    assert query_holds_nul(query) is found


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "\x1b[31m", "a\x7f", "a\x85", "\x00"])
def test_a_line_refuses_control_characters(value: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        one_line(value)


def test_a_line_keeps_any_script_and_spaces() -> None:
    assert one_line("Läden  東京 shop") == "Läden  東京 shop"
