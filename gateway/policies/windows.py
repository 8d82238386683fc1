"""Spend windows: calendar periods in UTC, named so every process counts into the same row.

A day starts at 00:00 UTC, a week on Monday at 00:00 UTC, a month on the 1st at 00:00 UTC (as
OpenRouter's ``limit_reset`` and Stripe Issuing's intervals); ``all_time`` never resets. A window
is a row of ``key_spend`` named by its interval and start (``daily:2026-11-23``), so a new window
is a new row: nothing has to reset anything, and a budget cannot fail to reset.
"""

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from .model import INTERVALS, Interval

__all__ = ["CLOSING_PREFIXES", "LONGEST_WINDOW_DAYS", "Window", "window", "window_of", "window_on"]


# Buckets of windows that close (a key's or a budget's own, per recipient, and a budget's per
# platform), by their names' start; an ``all_time`` count, and a key's record of recipients it
# paid, never close.
CLOSING_PREFIXES: tuple[str, ...] = tuple(
    f"{scope}{interval}:"
    for scope in ("", "recipient:", "platform:")
    for interval in INTERVALS
    if interval != "all_time"
)
# No window is longer: a row untouched for longer belongs to a window that has closed.
LONGEST_WINDOW_DAYS = 31


@dataclass(frozen=True, slots=True)
class Window:
    interval: Interval
    bucket: str  # the ``key_spend`` row's name
    resets_at: datetime | None  # None: all_time
    starts_at: datetime | None = None  # None: all_time


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
    interval = next((each for each in INTERVALS if each == name != "all_time"), None)
    if interval is None:
        return None
    try:
        day = date.fromisoformat(start)
    except ValueError:
        return None
    found = window_on(interval, day)
    return found if found.bucket == bucket else None
