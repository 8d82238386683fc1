"""JSON lines for every log record, ``extra`` fields included, for the gateway and the worker.

Records carry only what callers pass; the masking helpers are for callers that must mention an
address. Keys, webhook secrets and voucher codes are never passed to a logger at all.
"""

import functools
import json
import logging
import sys
import time
from typing import IO, Any

import orjson

__all__ = ["JsonFormatter", "configure_logging", "mask_email"]

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName", "color_message"}
)


# A line is ASCII, as the stdlib's encoder writes it, whatever the stream's encoding. orjson writes
# UTF-8 and refuses integers past 64 bits, so a line it cannot write so (rare: the access line
# is ids, a route and numbers) is the stdlib's. Dates and dataclasses go to ``default`` on
# both, so a value reads the same whichever wrote it.
_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


@functools.lru_cache(maxsize=2)
def _second(whole: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


def _utc(created: float) -> str:
    # Every line of a second shares its prefix; formatting it once is most of this function.
    whole = int(created)
    return f"{_second(whole)}.{int((created - whole) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts``, ``level``, ``logger``, ``msg``, then the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        # orjson: the access line for a seventh of what the stdlib's encoder takes
        # (docs/performance.md, "The access line in C").
        try:
            text = orjson.dumps(line, default=str, option=_OPTIONS).decode()
        except orjson.JSONEncodeError:
            return _ENCODER.encode(line)
        return text if text.isascii() else _ENCODER.encode(line)


def _skip_caller_lookup() -> None:
    """The one reach into ``logging``'s internals: ``logging._srcfile``, the path the stdlib
    compares stack frames with to find a record's caller. Set to ``None``, ``Logger._log``
    skips ``findCaller``, a stack walk on every record, and records carry ``(unknown file)``,
    line 0 and ``(unknown function)``, which the lines never show (``stack_info=True`` is lost
    as well). The stdlib names this switch in a comment beside the attribute, and nowhere
    public. ``tests/gateway/ops/test_logs_internals.py`` fails if the attribute goes or stops
    having that effect."""
    logging._srcfile = None


class _JsonHandler(logging.StreamHandler[IO[str]]):
    """Marks the handler this module installed, so configuring twice replaces it."""


def configure_logging(level: str | int = "INFO", stream: IO[str] | None = None) -> None:
    """Send every record, the server's own included, to ``stream`` as JSON lines."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _JsonHandler):
            root.removeHandler(handler)
    handler = _JsonHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # The lines carry none of these, and gathering them costs on every record (the logging
    # HOWTO's "Optimization" section).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    _skip_caller_lookup()
    # uvicorn's loggers hand their records to ours; its access line is replaced by the gateway's
    # own, which knows the route, the code and the merchant.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False
    # httpx's INFO line is each request's full URL, and a provider's may hold a credential
    # (Epay's order query carries the merchant key): the gateway logs its own calls instead.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def mask_email(address: str) -> str:
    """``j***@example.com``: enough to tell recipients apart in a log, not to reach one."""
    local, at, domain = address.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"
