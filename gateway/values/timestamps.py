"""Instants a request may carry (expiries, ``since``, list filters): RFC 3339 with an offset,
turned into UTC and kept within a range every part of the gateway can hold.

Python's datetimes end at year 9999 and begin at year 1 in every offset, so ``9999-12-31T23:00
-05:00`` parses but has no UTC form, and the store (and any duration added to it) would fail on
it with a 500. The range here is what the gateway can keep and compute with: nothing it holds
predates the Unix epoch, and a year of headroom under the largest datetime leaves room for the
durations it adds (TTLs, windows). Outside it, the request is refused as invalid (422).
"""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

__all__ = ["EARLIEST", "LATEST", "Instant", "in_range"]

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)  # exclusive


def in_range(value: datetime) -> datetime:
    """``value`` in UTC, or ``ValueError`` (pydantic makes it a validation error)."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST <= utc < LATEST:
        raise ValueError("must be from 1970-01-01T00:00:00Z to before 9999-01-01T00:00:00Z")
    return utc


Instant = Annotated[AwareDatetime, AfterValidator(in_range)]
