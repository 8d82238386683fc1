"""/metrics counts requests, sends and attempts, reads the outbox, adds up processes."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert

from gateway.ops.metrics import observe_delivery_attempt, prepare_multiprocess_dir
from gateway.store.engine import Database
from gateway.store.models import Event, WebhookDelivery, WebhookEndpoint, table_of
from gateway.values.clock import new_id, utcnow
from tests.fixtures.merchants import MakeMerchant, MerchantKey

SEND = {"platform": "gemini", "amount_cents": 300, "recipient_email": "m@example.com"}


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _scrape(http: httpx.AsyncClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    reply = await http.get("/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    return _samples(reply.text)


async def test_a_send_and_a_delivery_attempt_are_counted(
    ops_client: httpx.AsyncClient, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant()
    route = {"route": "/api/public/v1/topup/send", "method": "POST"}
    before = await _scrape(ops_client)
    sent = await ops_client.post("/api/public/v1/topup/send", json=SEND, headers=merchant.headers)
    assert sent.status_code == 200
    observe_delivery_attempt("failed", 0.2)
    after = await _scrape(ops_client)

    def moved(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert moved("aitopup_topups_total", env="staging", platform="gemini", outcome="delivered") == 1
    assert moved("aitopup_http_requests_total", **route, status="200", code="1001") == 1
    assert moved("aitopup_http_request_duration_seconds_count", **route) == 1
    assert moved("aitopup_http_request_duration_seconds_bucket", **route, le="+Inf") == 1
    assert moved("aitopup_http_request_duration_seconds_sum", **route) > 0
    assert moved("aitopup_webhook_delivery_attempts_total", outcome="failed") == 1
    assert (
        moved(
            "aitopup_webhook_delivery_attempt_duration_seconds_bucket", outcome="failed", le="0.25"
        )
        == 1
    )
    assert (
        moved(
            "aitopup_webhook_delivery_attempt_duration_seconds_bucket", outcome="failed", le="0.1"
        )
        == 0
    )


async def _pending_delivery(db: Database, merchant: MerchantKey, due_in: timedelta) -> None:
    now = utcnow()
    event_id, endpoint_id = new_id("evt"), new_id("we")
    async with db.transaction() as conn:
        await conn.execute(
            insert(table_of(Event)).values(
                id=event_id,
                env="staging",
                merchant_id=merchant.merchant_id,
                type="topup.delivered",
                payload="{}",
                created_at=now,
            )
        )
        await conn.execute(
            insert(table_of(WebhookEndpoint)).values(
                id=endpoint_id,
                env="staging",
                merchant_id=merchant.merchant_id,
                url="https://example.com/hook",
                event_types="",
                enabled=True,
                secret_sealed="x",
                created_at=now,
                updated_at=now,
            )
        )
        await conn.execute(
            insert(table_of(WebhookDelivery)).values(
                id=new_id("dlv"),
                event_id=event_id,
                endpoint_id=endpoint_id,
                env="staging",
                merchant_id=merchant.merchant_id,
                event_type="topup.delivered",
                status="pending",
                attempts=0,
                next_attempt_at=now + due_in,
                created_at=now,
                updated_at=now,
            )
        )


async def test_the_outbox_backlog_and_its_oldest_age_are_read_at_scrape(
    ops_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    before = await _scrape(ops_client)
    await _pending_delivery(db, merchant, timedelta(minutes=-10))
    await _pending_delivery(db, merchant, timedelta(minutes=10))  # not due yet
    after = await _scrape(ops_client)
    due = "aitopup_outbox_due_deliveries"
    assert _value(after, due) - _value(before, due) == 1
    assert _value(after, "aitopup_outbox_oldest_due_age_seconds") >= 600


_CHILD = """
import asyncio, sys
from gateway.ops import metrics
if sys.argv[1] == "count":
    metrics.observe_topup("live", "claude", 1001)
    metrics.observe_delivery_attempt("succeeded", 0.01)
else:
    sys.stdout.write(asyncio.run(metrics.scrape(None)).decode())
"""


def test_several_processes_add_up_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}

    def run(mode: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, mode],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    run("count")
    run("count")
    samples = _samples(run("scrape"))
    assert (
        _value(samples, "aitopup_topups_total", env="live", platform="claude", outcome="delivered")
        == 2
    )
    assert _value(samples, "aitopup_webhook_delivery_attempts_total", outcome="succeeded") == 2


def test_a_new_server_starts_from_an_empty_multiprocess_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_123.db").write_bytes(b"old")
    (folder / "keep.txt").write_text("not ours")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    prepare_multiprocess_dir()
    assert sorted(p.name for p in folder.iterdir()) == ["keep.txt"]
