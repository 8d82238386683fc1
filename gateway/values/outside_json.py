"""JSON from outside, bounded in depth: one rule for a request's body (``parsing.decode_json``)
and for every other JSON an outsider sends or serves (``loads``: a payment notification, a
Telegram update, a client's metadata document, an upstream's or a channel's answer).

Python's decoder is recursive: past its own depth it raises ``RecursionError``, which no
``except ValueError`` takes (a 500 at a door, a lost try in the worker). Nothing here imports a
web framework, so the channels' and the worker's modules may read JSON by it too."""

import json
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_DEPTH", "TOO_DEEP", "loads", "too_deep"]

# Far more than any body the gateway takes needs (a key's policy with its limits is four levels,
# an MCP call adds three around its arguments), far less than what overflows a recursive parser
# or validator downstream (a 500, not a refusal).
MAX_DEPTH = 32
# What a decoder that gave up past its own depth leaves in place of the value.
TOO_DEEP = object()


def _depth(value: Any) -> int:
    """How deeply arrays and objects nest in ``value``, without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        level += 1
        if level > MAX_DEPTH:
            return level
        deepest = max(deepest, level)
        pending.extend((child, level) for child in children)
    return deepest


def too_deep(raw: bytes | str, decoded: Any) -> bool:
    """Whether ``decoded`` (decoded from ``raw``) nests past ``MAX_DEPTH``."""
    if decoded is TOO_DEEP:
        return True
    # Each level opens with a bracket: a body with no more of them than ``MAX_DEPTH`` (every
    # body the gateway takes) cannot be too deep, and is not walked.
    if isinstance(raw, str):
        brackets = raw.count("[") + raw.count("{")
    else:
        brackets = raw.count(b"[") + raw.count(b"{")
    return brackets > MAX_DEPTH and _depth(decoded) > MAX_DEPTH


def loads(raw: bytes | str, *, parse_float: Callable[[str], Any] | None = None) -> Any:
    """The decoded value, or ``ValueError`` for anything that is not JSON nested at most
    ``MAX_DEPTH`` levels; never ``RecursionError``."""
    try:
        decoded = json.loads(raw, parse_float=parse_float)
    except RecursionError:
        decoded = TOO_DEEP
    if too_deep(raw, decoded):
        raise ValueError(f"JSON nested more than {MAX_DEPTH} levels deep")
    return decoded
