"""Amounts as channels state them (``1.535`` KWD) and as the gateway keeps them: an integer count
of the currency's minor unit (1535 fils), its exponent from ISO 4217. Never a float between:
a channel's JSON is read with its numbers as ``Decimal`` (``loads``)."""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ....values import outside_json

__all__ = [
    "Money",
    "converted",
    "from_minor",
    "loads",
    "major_text",
    "minor_digits",
    "rate",
    "scaled",
    "to_minor",
]

# ISO 4217 minor units where they are not two; MyFatoorah's Gulf currencies among them.
_DIGITS = {
    "BHD": 3,
    "IQD": 3,
    "JOD": 3,
    "KWD": 3,
    "LYD": 3,
    "OMR": 3,
    "TND": 3,
    "JPY": 0,
    "KRW": 0,
}
# An amount a channel states beyond this is no amount of ours (a billion of the major unit).
_MAX_MAJOR = Decimal(10) ** 9


@dataclass(frozen=True, slots=True)
class Money:
    minor: int
    currency: str  # ISO 4217, upper case

    def __str__(self) -> str:
        return f"{from_minor(self.minor, self.currency)} {self.currency}"


def minor_digits(currency: str) -> int:
    return _DIGITS.get(currency.upper(), 2)


def loads(raw: str | bytes) -> Any:
    """A channel's JSON, its fractional numbers as ``Decimal`` (a KWD price of 1.535 must not
    become a float on its way to 1535 fils); ``ValueError`` if it is not JSON within
    ``outside_json.MAX_DEPTH`` levels (``outside_json.loads``)."""
    return outside_json.loads(raw, parse_float=Decimal)


def scaled(amount: Decimal, digits: int, *, exact: bool = True) -> int | None:
    """``amount`` of a currency of ``digits`` places in minor units, rounded half up; None if
    ``exact`` and it has more places than that."""
    units = amount.scaleb(digits)
    whole = units.to_integral_value(rounding=ROUND_HALF_UP)
    if exact and whole != units:
        return None
    return int(whole)


def converted(minor: int, at: Decimal, *, digits: int = 2, into_digits: int = 2) -> int:
    """``minor`` units (of a currency of ``digits`` places) at ``at`` of another currency (of
    ``into_digits`` places) a major unit, in that one's minor units, rounded half up."""
    return int(
        (Decimal(minor).scaleb(into_digits - digits) * at).to_integral_value(rounding=ROUND_HALF_UP)
    )


def to_minor(value: Any, currency: str, *, exact: bool = True) -> int | None:
    """``value`` (a JSON number read as ``Decimal``, an int or a numeric string) in minor units
    of ``currency``; None if it is no amount. ``exact``: an amount with more places than the
    currency has is no amount (what was asked must match to the unit); otherwise it is rounded
    half up, as a converted amount may carry a conversion's extra places."""
    if isinstance(value, bool) or not isinstance(value, int | str | Decimal):
        return None
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount >= _MAX_MAJOR:
        return None
    return scaled(amount, minor_digits(currency), exact=exact)


def _major(minor: int, digits: int) -> Decimal:
    return Decimal(minor).scaleb(-digits).quantize(Decimal(1).scaleb(-digits))


def from_minor(minor: int, currency: str) -> Decimal:
    """``minor`` units of ``currency`` as the major amount, with the currency's places."""
    return _major(minor, minor_digits(currency))


def major_text(minor: int, digits: int = 2) -> str:
    """``minor`` units of a currency of ``digits`` places written as its major amount with
    every place (``1230`` → ``"12.30"``)."""
    return str(_major(minor, digits))


def rate(paid: Money, asked: Money) -> Decimal:
    """How many of ``paid``'s major unit one major unit of ``asked`` was converted at, to ten
    significant places: what MyFatoorah applied between the order's currency and its own."""
    if asked.minor == 0:
        return Decimal(0)
    ratio = from_minor(paid.minor, paid.currency) / from_minor(asked.minor, asked.currency)
    return ratio.quantize(Decimal("1e-10")).normalize()
