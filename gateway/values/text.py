"""Text from outside, refused where it is parsed when the store could not hold it.

PostgreSQL's ``text`` cannot hold NUL (U+0000) and refuses the whole statement (a 500), where
SQLite stores it: so a NUL is refused in every string a request carries, once, where the request
is parsed (a JSON body, a form, a query string, a path), whichever door it came through, and
the stores behave alike. A name or a line (what is shown on one line: a name, a description, a
code) holds no control character at all (``Line``): a newline or an escape there would forge
lines in a log, a mail's subject or a page.
"""

import unicodedata
from collections.abc import Iterable
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import BeforeValidator

__all__ = ["NUL", "Line", "holds_nul", "one_line", "query_holds_nul"]

NUL = "\x00"


def holds_nul(value: Any) -> bool:
    """Whether any string in ``value`` (keys of objects included, at any depth) holds a NUL;
    walked without recursion, as a decoded body may nest as deep as its parser allowed."""
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
    return False


def _pairs_hold_nul(pairs: Iterable[tuple[str, str]]) -> bool:
    return any(NUL in name or NUL in value for name, value in pairs)


def query_holds_nul(query: bytes | str) -> bool:
    """Whether a query string (or a form body) decodes to a NUL in a name or a value."""
    text = query.decode("latin-1") if isinstance(query, bytes) else query
    if "%00" not in text and NUL not in text:  # the common case, without decoding
        return False
    return _pairs_hold_nul(parse_qsl(text, keep_blank_values=True))


def one_line(value: str) -> str:
    """``value`` if it holds no control character (Unicode category Cc: C0, DEL, C1)."""
    if isinstance(value, str) and any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("must not contain control characters (such as a newline or NUL)")
    return value


# Before the string's own checks, so a length bound on a ``Line`` reads as a string's.
Line = Annotated[str, BeforeValidator(one_line)]
