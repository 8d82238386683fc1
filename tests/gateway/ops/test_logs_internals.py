"""What ``gateway.ops.logs`` reaches of the stdlib's ``logging`` (``logging._srcfile``) is still
there and still has the effect it is set for: this fails first when a Python upgrade moves it."""

import io
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.ops.logs import configure_logging

# What the stdlib sets ``_srcfile`` to at import (``logging/__init__.py``).
STDLIB_SRCFILE = os.path.normcase(logging.addLevelName.__code__.co_filename)


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _one_record() -> logging.LogRecord:
    logger = logging.getLogger("aitopup.test.caller_lookup")
    keep = _Keep()
    logger.addHandler(keep)
    logger.propagate = False
    try:
        logger.warning("probe")
    finally:
        logger.removeHandler(keep)
    (record,) = keep.records
    return record


@pytest.fixture
def restored_logging(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``configure_logging`` changes process-wide state; each piece goes back afterwards."""
    for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, name, getattr(logging, name))
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_configured_logging_skips_the_caller_lookup(
    monkeypatch: pytest.MonkeyPatch, restored_logging: None
) -> None:
    assert hasattr(logging, "_srcfile")
    monkeypatch.setattr(logging, "_srcfile", STDLIB_SRCFILE)
    looked: list[logging.Logger] = []
    find_caller = logging.Logger.findCaller

    def spy(self: logging.Logger, stack_info: bool = False, stacklevel: int = 1) -> Any:
        looked.append(self)
        return find_caller(self, stack_info, stacklevel + 1)  # past this frame

    monkeypatch.setattr(logging.Logger, "findCaller", spy)

    before = _one_record()
    assert looked, "the stdlib no longer finds the caller through Logger.findCaller"
    assert os.path.normcase(before.pathname) == os.path.normcase(__file__)
    assert before.funcName == "_one_record" and before.lineno > 0

    looked.clear()
    configure_logging("INFO", io.StringIO())
    assert logging._srcfile is None
    after = _one_record()
    assert looked == []
    assert (after.pathname, after.lineno, after.funcName) == (
        "(unknown file)",
        0,
        "(unknown function)",
    )
