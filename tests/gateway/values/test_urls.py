"""``split_url``: a URL is taken only if both parsers read it, the checks' (``urlsplit``) and the
one that connects (httpx); whatever text it is given, it answers parts or ``ValueError``."""

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.values.urls import split_url

# The characters URLs are broken with, beside plain ones, so that drawn text is often nearly a URL.
_PIECES = st.sampled_from(
    [
        "https://",
        "http://",
        "[",
        "]",
        "::1",
        ":",
        "/",
        "@",
        "?",
        "#",
        "%",
        "a",
        "0",
        "99999",
        "\x00",
    ]
)


@pytest.mark.parametrize(
    "value",
    [
        "https://[::1]]/x",
        "https://[::1/x",
        "https://[::1]:99999/x",
        "https://a.example:x/y",
        "https://[zz]/x",
        "https://" + "a" * 70_000,
    ],
)
def test_what_either_parser_refuses_is_no_url(value: str) -> None:
    with pytest.raises(ValueError, match="not a URL"):
        split_url(value)


def test_a_url_both_read_is_split() -> None:
    parts = split_url("https://[::1]:8443/cb?x=1")
    assert (parts.hostname, parts.port, parts.query) == ("::1", 8443, "x=1")


@settings(max_examples=300, derandomize=True, database=None, deadline=None)
@given(st.lists(_PIECES | st.text(max_size=3), max_size=12).map("".join))
def test_any_text_is_split_or_refused_and_what_is_split_can_be_fetched(value: str) -> None:
    try:
        parts = split_url(value)
    except ValueError:
        return
    httpx.URL(value)  # what the checks passed, the sender reads
    _ = parts.port
