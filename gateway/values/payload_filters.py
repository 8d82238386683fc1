"""An endpoint's payload filter: a JSON object in the shape Hookdeck documents for its
destinations' filters, judged when it is saved and matched once per event in the fan-out.

A filter names fields of the event's body (``{"type": …, "data": {…}}``) and what each must
hold: a value (equal; of an array, one element equal), a list of values (an array holding each),
an object of operators (``$eq``, ``$neq``, ``$gt``, ``$gte``, ``$lt``, ``$lte``, ``$in``,
``$nin``, ``$startsWith``, ``$exist``, ``$not``), or an object of the fields of a nested object
(of an array of objects, one element holding them all). ``$and``, ``$or`` and ``$not`` join
filters. A field that is absent fails whatever it was asked, but ``{"$exist": false}``.
Comparisons hold only between two numbers or two strings (and equality between two booleans
or two nulls): any other pair is simply unequal, never an error.

The rule has one definition here, ``matches``, and two renderings of it for the stores: SQLite
calls ``matches`` itself from the fan-out's statement (``store.sqlite`` registers it as
``SQLITE_FUNCTION``), and PostgreSQL runs ``jsonpath``'s rendering of the same filter with
``jsonb_path_match``, made once when the filter is saved. Every comparison in the path is made
two-valued (SQL/JSON's ``unknown``, of a type mismatch, is false), so ``!`` negates as
``matches`` does; ``tests/gateway/values/test_payload_filters.py`` runs both on the same
filters and events and finds them agreeing.

What a merchant may save is bounded: ``MAX_BYTES`` of compact JSON, ``MAX_DEPTH`` levels of
nesting, numbers finite and within ``MAX_NUMBER``.
"""

import functools
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from .code_names import Code
from .outcome import ApiError

__all__ = [
    "MAX_BYTES",
    "MAX_DEPTH",
    "OPERATORS",
    "SQLITE_FUNCTION",
    "Saved",
    "check_filter",
    "jsonpath",
    "matches",
    "matches_text",
]

MAX_BYTES = 4096
MAX_DEPTH = 8
MAX_NUMBER = 2**53  # what every JSON reader holds exactly
SQLITE_FUNCTION = "aitopup_filter_match"

_JOINS = ("$and", "$or", "$not")
_COMPARE = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
OPERATORS = (
    "$eq",
    "$neq",
    *_COMPARE,
    "$in",
    "$nin",
    "$startsWith",
    "$exist",
    "$not",
    "$and",
    "$or",
)

Filter = Mapping[str, Any]


class Saved:
    """A filter as an endpoint keeps it: its compact JSON and its path for PostgreSQL."""

    __slots__ = ("path", "text")

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path


# --- what a filter may be --------------------------------------------------------------------


def _invalid(message: str) -> ApiError:
    return ApiError(Code.WEBHOOK_FILTER_INVALID, f"Webhook filter invalid: {message}")


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool, int, float))


def _check_scalar(value: Any, where: str) -> None:
    if not _is_scalar(value):
        raise _invalid(f"{where} takes a string, number, boolean or null")
    if isinstance(value, str) and "\x00" in value:
        raise _invalid(f"{where}: a string holds no NUL character")
    if isinstance(value, float) and not math.isfinite(value):
        raise _invalid(f"{where}: numbers are finite")
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and abs(value) > MAX_NUMBER:
        raise _invalid(f"{where}: numbers are at most {MAX_NUMBER} either side of zero")


def _check_values(value: Any, where: str) -> None:
    if not isinstance(value, list) or not value:
        raise _invalid(f"{where} takes a non-empty list of values")
    for item in value:
        _check_scalar(item, where)


def _check_object(node: Any, where: str) -> None:
    """A filter: the fields of an object and the joins of filters."""
    if not isinstance(node, dict) or not node:
        raise _invalid(f"{where} is a non-empty object")
    for key, value in node.items():
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise _invalid(f"{key} takes a non-empty list of filters")
            for item in value:
                _check_object(item, key)
        elif key == "$not":
            _check_object(value, key)
        elif key.startswith("$"):
            _unknown(key)
        elif not key or "\x00" in key:
            raise _invalid("a field's name is not empty, and holds no NUL character")
        else:
            _check_condition(value, key)


def _unknown(operator: str) -> None:
    raise ApiError(
        Code.WEBHOOK_FILTER_OPERATOR_UNKNOWN,
        f"Webhook filter operator not supported here: {operator[:40]}",
        data={"operator": operator[:40], "supported": list(OPERATORS)},
    )


def _check_condition(value: Any, where: str) -> None:
    """What a field must hold."""
    if isinstance(value, list):
        _check_values(value, where)
        return
    if not isinstance(value, dict):
        _check_scalar(value, where)
        return
    operators = [k for k in value if k.startswith("$")]
    if not operators:
        _check_object(value, where)
        return
    if len(operators) != len(value):
        raise _invalid(f"{where} holds operators or fields, not both")
    for op, arg in value.items():
        if op in ("$eq", "$neq"):
            _check_scalar(arg, op)
        elif op in _COMPARE:
            if isinstance(arg, bool) or not isinstance(arg, (int, float, str)):
                raise _invalid(f"{op} takes a number or a string")
            _check_scalar(arg, op)
        elif op in ("$in", "$nin"):
            _check_values(arg, op)
        elif op == "$startsWith":
            if not isinstance(arg, str):
                raise _invalid(f"{op} takes a string")
            _check_scalar(arg, op)
        elif op == "$exist":
            if not isinstance(arg, bool):
                raise _invalid(f"{op} takes true or false")
        elif op == "$not":
            _check_condition(arg, op)
        else:
            _unknown(op)


def check_filter(value: Any) -> Saved | None:
    """The filter a merchant sent, judged: ``None`` (and ``{}``) lift it; anything else is a
    filter within the bounds, or refused with its code and nothing saved."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise _invalid("a filter is a JSON object, or null to lift it")
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    try:
        size = len(text.encode())
    except UnicodeEncodeError:  # a lone surrogate, which no store keeps
        raise _invalid("a filter is valid Unicode") from None
    if size > MAX_BYTES:
        raise ApiError(Code.WEBHOOK_FILTER_TOO_LARGE, data={"max_bytes": MAX_BYTES})
    if _depth(value) > MAX_DEPTH:
        raise ApiError(Code.WEBHOOK_FILTER_TOO_DEEP, data={"max_depth": MAX_DEPTH})
    _check_object(value, "the filter")
    return Saved(text, jsonpath(value))


# --- the rule ----------------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    """JSON equality of two scalars: a boolean is no number, as in SQL/JSON."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return False


def _ordered(a: Any, op: str, b: Any) -> bool:
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b))
    if not numbers and not (isinstance(a, str) and isinstance(b, str)):
        return False
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "$gt": lambda x, y: x > y,
        "$gte": lambda x, y: x >= y,
        "$lt": lambda x, y: x < y,
        "$lte": lambda x, y: x <= y,
    }
    return compare[op](a, b)


def _any(value: Any, test: Callable[[Any], bool]) -> bool:
    """``test`` of a value, or of one element of an array (one level, as SQL/JSON's lax
    mode unwraps)."""
    if isinstance(value, list):
        return any(test(item) for item in value)
    return test(value)


def _holds(op: str, arg: Any, value: Any) -> bool:
    if op == "$eq":
        return _any(value, lambda v: _same(v, arg))
    if op == "$neq":
        return not _any(value, lambda v: _same(v, arg))
    if op in _COMPARE:
        return _any(value, lambda v: _ordered(v, op, arg))
    if op == "$in":
        return _any(value, lambda v: any(_same(v, a) for a in arg))
    if op == "$nin":
        return not _any(value, lambda v: any(_same(v, a) for a in arg))
    if op == "$startsWith":
        return _any(value, lambda v: isinstance(v, str) and v.startswith(arg))
    if op == "$exist":
        return bool(arg)  # the field is there
    assert op == "$not"
    return not _condition(arg, value)


def _condition(cond: Any, value: Any) -> bool:
    """What a present field ``value`` must hold."""
    if isinstance(cond, list):
        return isinstance(value, list) and all(any(_same(item, c) for item in value) for c in cond)
    if not isinstance(cond, dict):
        return _any(value, lambda v: _same(v, cond))
    if next(iter(cond)).startswith("$"):
        return all(_holds(op, arg, value) for op, arg in cond.items())
    return _any(value, lambda v: isinstance(v, dict) and _object(cond, v))


def _object(node: Filter, value: Mapping[str, Any]) -> bool:
    for key, cond in node.items():
        if key == "$and":
            held = all(_object(item, value) for item in cond)
        elif key == "$or":
            held = any(_object(item, value) for item in cond)
        elif key == "$not":
            held = not _object(cond, value)
        elif cond == {"$exist": False}:
            held = key not in value
        else:
            held = key in value and _condition(cond, value[key])
        if not held:
            return False
    return True


def matches(node: Filter, event: Any) -> bool:
    """Whether event body ``event`` passes the (checked) filter ``node``."""
    return isinstance(event, dict) and _object(node, event)


@functools.lru_cache(maxsize=64)
def _parsed(text: str) -> Any:
    return json.loads(text)


@functools.lru_cache(maxsize=64)
def matches_text(filter_text: str | None, body: str | None) -> bool:
    """``matches`` of a saved filter's JSON and an event's body as text: SQLite's function.
    No filter passes everything. Remembered: the fan-out asks it of the same filter and body
    twice (the deliveries' statement, then the drops'), and an event's body once per filtered
    endpoint."""
    if filter_text is None:
        return True
    if body is None:
        return False
    return matches(_parsed(filter_text), _parsed(body))


# --- the same rule as SQL/JSON path, for PostgreSQL -------------------------------------------


def _literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value) if isinstance(value, float) else str(value)


def _safe(predicate: str) -> str:
    """A comparison that is false where SQL/JSON finds it unknown (a type mismatch), so that
    negating it agrees with ``matches``."""
    return f"(({predicate}) && !(({predicate}) is unknown))"


def _eq(path: str, value: Any) -> str:
    return _safe(f"{path} == {_literal(value)}")


def _path_holds(op: str, arg: Any, path: str) -> str:
    if op == "$eq":
        return _eq(path, arg)
    if op == "$neq":
        return f"!{_eq(path, arg)}"
    if op in _COMPARE:
        return _safe(f"{path} {_COMPARE[op]} {_literal(arg)}")
    if op == "$in":
        return "(" + " || ".join(_eq(path, a) for a in arg) + ")"
    if op == "$nin":
        return "!(" + " || ".join(_eq(path, a) for a in arg) + ")"
    if op == "$startsWith":
        return _safe(f"{path} starts with {_literal(arg)}")
    if op == "$exist":
        return "(1 == 1)" if arg else "(1 == 0)"  # the field is there
    assert op == "$not"
    return f"!({_path_condition(arg, path)})"


def _path_condition(cond: Any, path: str) -> str:
    if isinstance(cond, list):
        held = " && ".join(_eq(path, c) for c in cond)
        return f'({path}.type() == "array" && {held})'
    if not isinstance(cond, dict):
        return _eq(path, cond)
    if next(iter(cond)).startswith("$"):
        return "(" + " && ".join(_path_holds(op, arg, path) for op, arg in cond.items()) + ")"
    return f'exists({path} ? (@.type() == "object" && {_path_object(cond, "@")}))'


def _path_object(node: Filter, base: str) -> str:
    parts: list[str] = []
    for key, cond in node.items():
        if key == "$and":
            parts.append("(" + " && ".join(_path_object(item, base) for item in cond) + ")")
        elif key == "$or":
            parts.append("(" + " || ".join(_path_object(item, base) for item in cond) + ")")
        elif key == "$not":
            parts.append(f"!({_path_object(cond, base)})")
        else:
            path = f"{base}.{_literal(key)}"
            if cond == {"$exist": False}:
                parts.append(f"!exists({path})")
            else:
                parts.append(f"(exists({path}) && {_path_condition(cond, path)})")
    return "(" + " && ".join(parts) + ")"


def jsonpath(node: Filter) -> str:
    """The (checked) filter as a SQL/JSON path predicate over the event's body."""
    return _path_object(node, "$")
