"""The body rules of ``gateway/values/parsing.py`` on their own: the depth rule walks only a body
that could break it, and judges the nesting, not the brackets."""

import sys
from decimal import Decimal

import pytest

from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.outside_json import MAX_DEPTH, loads
from gateway.values.parsing import decode_json


def _nested(levels: int) -> bytes:
    return b'{"a":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


def test_nesting_up_to_the_limit_is_taken() -> None:
    assert decode_json(_nested(MAX_DEPTH)) == {"a": _lists(MAX_DEPTH - 1)}


def test_one_level_past_the_limit_is_refused() -> None:
    with pytest.raises(ApiError) as refused:
        decode_json(_nested(MAX_DEPTH + 1))
    assert refused.value.code is Code.JSON_TOO_DEEP


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    body = b'{"memo": "' + b"[{" * MAX_DEPTH + b'", "tags": ["a", {"b": 1}]}'
    assert decode_json(body)["tags"] == ["a", {"b": 1}]


def test_escaped_quotes_do_not_end_a_string_early() -> None:
    body = b'{"memo": "\\"' + b"[" * (MAX_DEPTH + 1) + b'", "n": [1]}'
    assert decode_json(body)["n"] == [1]


@pytest.mark.parametrize("levels", [5_000, 100_000])
def test_depth_is_judged_before_decoding_whatever_the_recursion_limit(levels: int) -> None:
    # x402's EVM signer imports py_ecc, which raises the limit to 100,000: the C decoder would
    # then recurse past the C stack and end the process before any RecursionError.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        with pytest.raises(ApiError) as refused:
            decode_json(b"[" * levels + b"]" * levels)
        with pytest.raises(ValueError):
            loads("[" * levels + "]" * levels)
    finally:
        sys.setrecursionlimit(limit)
    assert refused.value.code is Code.JSON_TOO_DEEP


@pytest.mark.parametrize(
    "body",
    [
        b'{"memo": "a\\u0000b"}',
        b'{"tags": [{"k\\u0000": 1}]}',
        '{"memo": "a\\u0000b"}'.encode("utf-16"),
        '{"memo": "a\\u0000b"}'.encode("utf-32-le"),
    ],
)
def test_a_nul_spelled_in_any_encoding_json_takes_is_refused(body: bytes) -> None:
    with pytest.raises(ApiError) as refused:
        decode_json(body)
    assert refused.value.code is Code.TEXT_HOLDS_NUL


def test_an_escaped_backslash_before_u0000_is_no_nul() -> None:
    body = b'{"memo": "a\\\\u0000b"}'  # the text \\u0000: a backslash, then "u0000"
    assert decode_json(body) == {"memo": "a\\u0000b"}
    assert decode_json('{"memo": "\u00e9t\u00e9"}'.encode("utf-16")) == {"memo": "\u00e9t\u00e9"}


def _lists(levels: int) -> object:
    value: object = []
    for _ in range(levels - 1):
        value = [value]
    return value


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 5000 + b"]" * 5000,  # past the decoder's own depth: RecursionError inside
        "[" * 100_000 + "]" * 100_000,
        _nested(MAX_DEPTH + 1),
        b'{"a":' + b"9" * 5000 + b"}",  # past the digits an int is read from
        b'{"a":"\xff\xfe"}',
        b"",
    ],
    ids=[
        "5,000 deep",
        "100,000 deep, text",
        "one past the limit",
        "5,000 digits",
        "not UTF-8",
        "empty",
    ],
)
def test_json_from_outside_is_refused_as_a_value_error(raw: bytes | str) -> None:
    with pytest.raises(ValueError):  # the one exception every caller takes
        loads(raw)


def test_json_from_outside_within_the_limit_is_read_as_json_reads_it() -> None:
    assert loads(_nested(MAX_DEPTH)) == {"a": _lists(MAX_DEPTH - 1)}
    assert loads('{"price": 1.535}', parse_float=Decimal) == {"price": Decimal("1.535")}
