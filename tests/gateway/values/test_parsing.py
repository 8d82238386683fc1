"""The body rules of ``gateway/values/parsing.py`` on their own: the depth rule walks only a body
that could break it, and judges the nesting, not the brackets."""

import pytest

from gateway.values.codes import Code
from gateway.values.envelope import ApiError
from gateway.values.parsing import MAX_DEPTH, decode_json


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


def _lists(levels: int) -> object:
    value: object = []
    for _ in range(levels - 1):
        value = [value]
    return value
