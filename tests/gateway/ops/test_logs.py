import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from gateway.ops.logs import JsonFormatter, configure_logging, mask_email


@pytest.fixture
def restored_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_extra_fields_become_json_keys() -> None:
    record = logging.LogRecord(
        "aitopup.delivery", logging.INFO, "x.py", 1, "delivery %s", ("attempt",), None
    )
    record.delivery_id = "dlv_1"
    record.attempt = 2
    record.outcome = "failed"
    line = json.loads(JsonFormatter().format(record))
    assert line["msg"] == "delivery attempt"
    assert line["level"] == "info"
    assert line["logger"] == "aitopup.delivery"
    assert (line["delivery_id"], line["attempt"], line["outcome"]) == ("dlv_1", 2, "failed")
    assert line["ts"].endswith("Z")
    assert "args" not in line and "pathname" not in line


def test_configure_logging_writes_one_json_line_a_record_and_replaces_itself(
    restored_root: None,
) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", first)
    configure_logging("INFO", second)
    logging.getLogger("aitopup.delivery").info("delivery attempt", extra={"status": 500})
    logging.getLogger("aitopup.delivery").debug("not at this level")
    assert first.getvalue() == ""
    (line,) = second.getvalue().splitlines()
    assert json.loads(line)["status"] == 500


def test_a_line_is_ascii_and_reads_the_same_whichever_encoder_wrote_it() -> None:
    """orjson writes most lines; what it would write otherwise (UTF-8, an integer past 64
    bits) is the stdlib's, and dates read as ``str`` of them either way."""
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    for extra in ({"who": "Zoë 李"}, {"big": 2**70}, {"plain": "ascii"}):
        record = logging.LogRecord("a", logging.INFO, "x.py", 1, "m", None, None)
        record.__dict__.update(extra, when=when)
        text = JsonFormatter().format(record)
        assert text.isascii(), text
        line = json.loads(text)
        assert {key: line[key] for key in extra} == extra
        assert line["when"] == str(when)


def test_exceptions_are_kept_in_the_line() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord(
            "a", logging.ERROR, "x.py", 1, "oops", None, __import__("sys").exc_info()
        )
    assert "ValueError: bad" in json.loads(JsonFormatter().format(record))["exc"]


@pytest.mark.parametrize(
    ("address", "masked"),
    [("alice@example.com", "a***@example.com"), ("x@y.io", "x***@y.io"), ("nope", "***")],
)
def test_mask_email(address: str, masked: str) -> None:
    assert mask_email(address) == masked
