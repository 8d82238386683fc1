"""Spend windows: calendar periods in UTC, named so every process counts into the same row.

A day starts at 00:00 UTC, a week on Monday at 00:00 UTC, a month on the 1st at 00:00 UTC (as
OpenRouter's ``limit_reset`` and Stripe Issuing's intervals); ``all_time`` never resets. A window
is a row of ``key_spend`` named by its interval and start (``daily:2026-11-23``), so a new window
is a new row: nothing has to reset anything, and a budget cannot fail to reset.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .model import INTERVALS, Interval

__all__ = ["Window", "window", "window_of"]


@dataclass(frozen=True, slots=True)
class Window:
    interval: Interval
    bucket: str  # the ``key_spend`` row's name
    resets_at: datetime | None  # None: all_time


def _midnight(now: datetime) -> datetime:
    now = now.astimezone(UTC)
    return datetime(now.year, now.month, now.day, tzinfo=UTC)


def window(interval: Interval, now: datetime) -> Window:
    """The window of ``interval`` that holds ``now``."""
    if interval == "all_time":
        return Window(interval, "all_time", None)
    day = _midnight(now)
    if interval == "daily":
        start, end = day, day + timedelta(days=1)
    elif interval == "weekly":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    else:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    return Window(interval, f"{interval}:{start.date().isoformat()}", end)


def window_of(bucket: str) -> Window | None:
    """The calendar window a ``key_spend`` row counts (``window``'s bucket); None for a row
    that is not one (a recipient's or a paid count)."""
    if bucket == "all_time":
        return window("all_time", datetime.now(UTC))
    name, _, start = bucket.partition(":")
    interval = next((each for each in INTERVALS if each == name != "all_time"), None)
    if interval is None:
        return None
    try:
        day = datetime.fromisoformat(start).replace(tzinfo=UTC)
    except ValueError:
        return None
    found = window(interval, day)
    return found if found.bucket == bucket else None
