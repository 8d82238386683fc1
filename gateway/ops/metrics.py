"""Prometheus metrics for the gateway and the worker.

Metric objects are process-wide by nature (prometheus-client keeps one value store a process), so
they are made at import; no settings, engines or clients are. With ``PROMETHEUS_MULTIPROC_DIR``
set before start, every process writes its values to files there and a scrape adds them up
(prometheus-client's multiprocess mode), so several gateway processes behind one port report one
total. The outbox figures are read from the store at scrape time, so any process reports them.
"""

import hmac
import ipaddress
import os
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any, Literal
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    make_wsgi_app,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, literal, select

from ..store.delivery_queue import QUEUE
from ..store.engine import Database
from ..store.models import WebhookDelivery, table_of
from ..store.types import UTCDateTime
from ..values.clock import utcnow
from ..values.code_names import Code

__all__ = [
    "CONTENT_TYPE",
    "DeliveryOutcome",
    "from_loopback",
    "observe_delivery_attempt",
    "observe_request",
    "observe_topup",
    "prepare_multiprocess_dir",
    "scrape",
    "start_metrics_server",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST
# What a webhook delivery attempt came to, as its metrics' label names it.
DeliveryOutcome = Literal["succeeded", "retrying", "failed"]
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_REGISTRY = CollectorRegistry(auto_describe=True)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "aitopup_http_requests",
    "HTTP requests answered, by route template, method, status and envelope code",
    ["route", "method", "status", "code"],
    registry=_REGISTRY,
)
HTTP_LATENCY = Histogram(
    "aitopup_http_request_duration_seconds",
    "Time from request to the end of the reply, by route template and method",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
    registry=_REGISTRY,
)
TOPUPS = Counter(
    "aitopup_topups",
    "Top-up sends that reached the ledger, by environment, platform and outcome",
    ["env", "platform", "outcome"],
    registry=_REGISTRY,
)
DELIVERY_ATTEMPTS = Counter(
    "aitopup_webhook_delivery_attempts",
    "Webhook delivery attempts, by outcome",
    ["outcome"],
    registry=_REGISTRY,
)
DELIVERY_LATENCY = Histogram(
    "aitopup_webhook_delivery_attempt_duration_seconds",
    "Duration of one webhook delivery attempt, by outcome",
    ["outcome"],
    buckets=_LATENCY_BUCKETS,
    registry=_REGISTRY,
)

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# labels() takes a lock and validates on every call; the label sets are few, so keep the children.
_request_children: dict[tuple[str, str, int, str], tuple[Any, Any]] = {}
_topup_children: dict[tuple[str, str, int | None], Any] = {}
_attempt_children: dict[str, tuple[Any, Any]] = {}

_TOPUP_OUTCOMES = {
    Code.TOPUP_DELIVERED: "delivered",
    Code.TOPUP_PENDING: "pending",
    Code.TOPUP_FAILED: "failed",
    Code.INSUFFICIENT_BALANCE: "insufficient_balance",
}


def observe_request(route: str, method: str, status: int, code: str, seconds: float) -> None:
    key = (route, method, status, code)
    children = _request_children.get(key)
    if children is None:
        label_method = method if method in _METHODS else "OTHER"  # clients choose methods
        children = (
            HTTP_REQUESTS.labels(route, label_method, str(status), code),
            HTTP_LATENCY.labels(route, label_method),
        )
        _request_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def observe_topup(env: str, platform: str, code: int | None) -> None:
    """``code`` is the reply's envelope code; ``None`` is a stored reply replayed."""
    key = (env, platform, code)
    child = _topup_children.get(key)
    if child is None:
        outcome = "replayed" if code is None else _TOPUP_OUTCOMES.get(Code(code), "refused")
        child = _topup_children[key] = TOPUPS.labels(env, platform, outcome)
    child.inc()


def observe_delivery_attempt(outcome: DeliveryOutcome, seconds: float) -> None:
    """One webhook POST, by what it came to."""
    children = _attempt_children.get(outcome)
    if children is None:
        children = (DELIVERY_ATTEMPTS.labels(outcome), DELIVERY_LATENCY.labels(outcome))
        _attempt_children[outcome] = children
    children[0].inc()
    children[1].observe(seconds)


def _registry() -> CollectorRegistry:
    if os.environ.get(MULTIPROC_ENV):
        merged = CollectorRegistry()
        # prometheus_client leaves this constructor unannotated.
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return merged
    return _REGISTRY


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> list[Metric]:
        return self._metrics


_D = table_of(WebhookDelivery)


async def _outbox_metrics(db: Database, now: datetime) -> list[Metric]:
    # Due as a lease finds them: one a worker holds is in flight, not waiting.
    stmt = select(func.count(), func.min(_D.c.next_attempt_at)).where(
        *QUEUE.is_due(literal(now, UTCDateTime()))
    )
    async with db.read() as conn:
        due, oldest = (await conn.execute(stmt)).one()
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return [
        GaugeMetricFamily(
            "aitopup_outbox_due_deliveries",
            "Webhook deliveries pending and due now (the outbox backlog)",
            value=due,
        ),
        GaugeMetricFamily(
            "aitopup_outbox_oldest_due_age_seconds",
            "How long the oldest due delivery has waited past its due time",
            value=age,
        ),
    ]


async def scrape(db: Database | None) -> bytes:
    """The exposition text: this process's (or every process's) counters, and the outbox."""
    text = generate_latest(_registry())
    if db is not None:
        outbox = CollectorRegistry()
        outbox.register(_Fixed(await _outbox_metrics(db, utcnow())))
        text += generate_latest(outbox)
    return text


def prepare_multiprocess_dir() -> None:
    """Before the server forks its processes: values left by an earlier run would be added in."""
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def from_loopback(host: str) -> bool:
    """A client at ``host`` (an address, as the server saw it) is this machine. Without a
    token ``/metrics`` answers such clients alone, the gateway's route and a process's own
    port alike."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def guarded_app(token: str | None) -> Callable[..., Iterable[bytes]]:
    """The WSGI app of ``/metrics`` for a process's own port, held to what the gateway's route
    answers: ``token`` set, its bearer alone (401 else); unset, loopback clients alone (404)."""
    served = make_wsgi_app(_registry())
    expected = None if token is None else token.encode()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if expected is None:
            if from_loopback(str(environ.get("REMOTE_ADDR", ""))):
                return served(environ, start_response)  # type: ignore[no-any-return]
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not Found\n"]
        scheme, _, presented = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), expected):
            return served(environ, start_response)  # type: ignore[no-any-return]
        start_response(
            "401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")]
        )
        return [b"Unauthorized\n"]

    return app


def start_metrics_server(
    port: int,
    addr: str = "0.0.0.0",  # noqa: S104
    *,
    token: str | None = None,
) -> WSGIServer:
    """Serve ``/metrics`` on its own port, for processes without an HTTP app (the worker), on a
    thread of its own, guarded as the gateway's is (``guarded_app``); the server is returned
    listening."""
    server = make_server(addr, port, guarded_app(token), _Server, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
