"""One date format on every page: UTC to the minute, with the relative time."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from gateway.values.clock import when

NOW = datetime(2026, 11, 23, 23, 30, 40, tzinfo=UTC)


def test_every_kind_of_time_reads_the_same_way() -> None:
    assert when(NOW - timedelta(seconds=20), NOW) == "2026-11-23 23:30 UTC (just now)"
    assert when(NOW - timedelta(minutes=5), NOW) == "2026-11-23 23:25 UTC (5 min ago)"
    assert when("2026-11-23T21:30:40Z", NOW) == "2026-11-23 21:30 UTC (2 h ago)"
    assert when(datetime(2026, 11, 20, 23, 30), NOW) == "2026-11-20 23:30 UTC (3 d ago)"
    assert when(NOW + timedelta(hours=1), NOW) == "2026-11-24 00:30 UTC (in 1 h)"
    plus_two = datetime(2026, 11, 24, 1, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/Paris"))
    assert when(plus_two, NOW).startswith("2026-11-24 01:30 UTC")
    assert when(None) == "never" and when("") == "never"
    assert when("not a time") == "not a time"
