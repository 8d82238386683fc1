"""Spend windows: calendar periods in UTC, and rolling ones, named so every process counts into
the same rows.

A day starts at 00:00 UTC, a week on Monday at 00:00 UTC, a month on the 1st at 00:00 UTC (as
OpenRouter's ``limit_reset`` and Stripe Issuing's intervals); ``all_time`` never resets. A window
is a row of ``key_spend`` named by its interval and start (``daily:2026-11-23``), so a new window
is a new row: nothing has to reset anything, and a budget cannot fail to reset.

A rolling window (the last ``hours`` hours) never resets: each minute's spend is a row of its own
(``rolling:2026-11-28T03:59``), and the window is the rows of its last ``hours`` hours of minutes,
the current one included (``policies.rolling`` sums them). A spend leaves it when the minute it
was made in is ``hours`` hours old: a spend 4h59m old counts in a 5-hour window, one 5h old no
longer does. The rows do not name the hours, so a changed ``hours`` reads the same spend.
"""

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .model import CALENDAR, Interval

__all__ = [
    "CLOSING_PREFIXES",
    "LONGEST_WINDOW_DAYS",
    "ROLLING_HEAD",
    "ROLLING_LAST",
    "ROLLING_PREFIX",
    "Window",
    "frees_at",
    "rolling",
    "window",
    "window_of",
    "window_on",
]


# Buckets of calendar windows that close (a key's or a budget's own, per recipient, and a
# budget's per platform), by their names' start; an ``all_time`` count, and a key's record of
# recipients it paid, never close.
CLOSING_PREFIXES: tuple[str, ...] = tuple(
    f"{scope}{interval}:"
    for scope in ("", "recipient:", "platform:")
    for interval in CALENDAR
    if interval != "all_time"
)
# No window is longer: a row untouched for longer belongs to a window that has closed.
LONGEST_WINDOW_DAYS = 31

# A minute's row of a rolling window. Every such name has the one shape, so they sort by their
# minute under any collation the store compares text in, and a range of names is a range of time.
ROLLING_PREFIX = "rolling:"
_MINUTE = ROLLING_PREFIX + "%Y-%m-%dT%H:%M"
ROLLING_LAST = ROLLING_PREFIX + "9999-12-31T23:59"  # past every minute's row: a sum's bound
# The row every writer of an owner's rolling window locks first (``policies.rolling``).
ROLLING_HEAD = "rolling"
_ONE_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Window:
    interval: Interval
    bucket: str  # the ``key_spend`` row's name: a rolling window's, its current minute's
    resets_at: datetime | None  # None: all_time, rolling
    starts_at: datetime | None = None  # None: all_time; rolling: the first minute it counts
    # A rolling window: the minute's row just before it (its rows are those after, to the last).
    since: str | None = None


def rolling(hours: int, now: datetime) -> Window:
    """The rolling window of ``hours`` that ends with the minute of ``now``."""
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    before = minute - timedelta(hours=hours)
    return Window(
        "rolling", minute.strftime(_MINUTE), None, before + _ONE_MINUTE, before.strftime(_MINUTE)
    )


def frees_at(bucket: str, hours: int) -> datetime:
    """When the spend counted in the minute's row ``bucket`` leaves a window of ``hours``."""
    return datetime.strptime(bucket, _MINUTE).replace(tzinfo=UTC) + timedelta(hours=hours)


def window(interval: Interval, now: datetime) -> Window:
    """The window of ``interval`` that holds ``now``."""
    return window_on(interval, now.astimezone(UTC).date())


@functools.lru_cache(maxsize=256)
def window_on(interval: Interval, day: date) -> Window:
    """The window of ``interval`` that holds the UTC ``day``: the same for every send that day."""
    if interval == "all_time":
        return Window(interval, "all_time", None)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if interval == "daily":
        start, end = midnight, midnight + timedelta(days=1)
    elif interval == "weekly":
        start = midnight - timedelta(days=midnight.weekday())
        end = start + timedelta(days=7)
    else:
        start = midnight.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    return Window(interval, f"{interval}:{start.date().isoformat()}", end, start)


def window_of(bucket: str) -> Window | None:
    """The calendar window a ``key_spend`` row counts (``window``'s bucket); None for a row
    that is not one (a recipient's or a paid count)."""
    if bucket == "all_time":
        return window_on("all_time", date.min)
    name, _, start = bucket.partition(":")
    interval = next((each for each in CALENDAR if each == name != "all_time"), None)
    if interval is None:
        return None
    try:
        day = date.fromisoformat(start)
    except ValueError:
        return None
    found = window_on(interval, day)
    return found if found.bucket == bucket else None
