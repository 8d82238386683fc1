"""JSON from outside, bounded in depth: one rule for a request's body (``parsing.decode_json``)
and for every other JSON an outsider sends or serves (``loads``: a payment notification, a
Telegram update, a client's metadata document, an upstream's or a channel's answer).

Python's decoder is recursive, in C: past the interpreter's recursion limit it raises
``RecursionError``, which no ``except ValueError`` takes (a 500 at a door, a lost try in the
worker), and where a library has raised that limit (``py_ecc``, under x402's EVM signer, sets it
to 100,000 on import) it overflows the C stack first and the process dies. So the depth is read
from the raw text, without recursion, before anything is decoded. Nothing here imports a
web framework, so the channels' and the worker's modules may read JSON by it too."""

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["MAX_DEPTH", "loads", "too_deep"]

# Far more than any body the gateway takes needs (a key's policy with its limits is four levels,
# an MCP call adds three around its arguments), far less than what overflows a recursive parser
# or validator downstream (a 500, not a refusal).
MAX_DEPTH = 32

# A string's text may hold brackets that open nothing: strings are blanked before brackets are
# counted (the unrolled form, linear on any input).
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")
_OPENING = frozenset(b"[{")


def too_deep(raw: bytes | str) -> bool:
    """Whether the JSON text ``raw`` nests arrays and objects past ``MAX_DEPTH``, read from its
    brackets alone: a text with no more of them than ``MAX_DEPTH`` (every body the gateway takes)
    is not scanned further."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return False
    depth = 0
    for bracket in _BRACKETS.finditer(_STRINGS.sub(b'""', data)):
        if bracket.group()[0] in _OPENING:
            depth += 1
            if depth > MAX_DEPTH:
                return True
        else:
            depth -= 1
    return False


def loads(raw: bytes | str, *, parse_float: Callable[[str], Any] | None = None) -> Any:
    """The decoded value, or ``ValueError`` for anything that is not JSON nested at most
    ``MAX_DEPTH`` levels; never ``RecursionError``."""
    if too_deep(raw):
        raise ValueError(f"JSON nested more than {MAX_DEPTH} levels deep")
    try:
        return json.loads(raw, parse_float=parse_float)
    except RecursionError:  # a recursion limit set lower than ``MAX_DEPTH`` needs
        raise ValueError("JSON nested past the decoder's depth") from None
