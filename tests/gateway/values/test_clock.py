"""Ids: a prefix and 24 lower-case base-36 characters that sort in creation order."""

import os
import re
from datetime import UTC, datetime, timedelta, timezone

from gateway.values.clock import new_id, rfc3339


def test_ids_have_their_shape_and_sort_in_creation_order() -> None:
    made = [new_id("txn") for _ in range(5_000)]
    assert all(re.fullmatch(r"txn_[0-9a-z]{24}", i) for i in made)
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_the_time_part_is_the_millisecond_in_base36() -> None:
    before = int(datetime.now(UTC).timestamp() * 1000)
    made = new_id("evt")
    after = int(datetime.now(UTC).timestamp() * 1000)
    assert before <= int(made[4:13], 36) <= after + 1


def test_rfc3339_is_utc_to_the_second() -> None:
    assert rfc3339(datetime(2026, 11, 22, 15, 4, 5, 999, tzinfo=UTC)) == "2026-11-22T15:04:05Z"
    plus_one = timezone(timedelta(hours=1))
    assert rfc3339(datetime(2026, 11, 22, 16, 4, 5, tzinfo=plus_one)) == "2026-11-22T15:04:05Z"
    before_1970 = datetime(1969, 12, 31, 23, 59, 59, 500_000, tzinfo=UTC)
    assert rfc3339(before_1970) == "1969-12-31T23:59:59Z"


def test_a_forked_child_does_not_repeat_its_parents_random_bits() -> None:
    new_id("txn")  # the parent's random buffer is filled
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child)
        os.write(writer, new_id("txn").encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    theirs = os.read(reader, 100).decode()
    os.close(reader)
    mine = new_id("txn")
    assert re.fullmatch(r"txn_[0-9a-z]{24}", theirs)
    assert theirs[-12:] != mine[-12:]
