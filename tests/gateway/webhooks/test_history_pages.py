"""A merchant's pages of deliveries read the recent weeks first (``store.paging.recent_first``):
every delivery once, newest first, across the window's bound, on both stores; on PostgreSQL,
with a year of weekly partitions, a page the recent weeks fill is planned over those weeks only,
not the year."""

import re
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import event, text

from bench.history import weekly_partitions
from gateway.callers import Caller
from gateway.store.engine import Database
from gateway.store.paging import RECENT
from gateway.store.partitions import AHEAD, SPAN
from gateway.values.clock import id_floor, id_time, new_id, utcnow
from gateway.webhooks.deliveries import list_deliveries
from gateway.webhooks.schemas import DeliveriesQuery
from tests.fixtures.history import insert_endpoint, insert_history
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.migrations import database_at, url_of

ENDPOINT = "we_" + "p" * 24
# Days back each delivery was made: three within the first window, three below it.
AGES = (0, 1, 13, 15, 40, 200)


async def _pages(client: httpx.AsyncClient, headers: dict[str, str], limit: int) -> list[str]:
    seen: list[str] = []
    cursor = ""
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        reply = (await client.get(f"/webhooks/deliveries{query}", headers=headers)).json()
        seen += [d["id"] for d in reply["data"]]
        assert len(reply["data"]) <= limit
        if not reply["meta"]["has_more"]:
            return seen
        cursor = reply["meta"]["next_cursor"]


async def test_pages_of_deliveries_cross_the_recent_window_whole(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    now = utcnow()
    async with db.transaction() as conn:
        await insert_endpoint(conn, merchant.merchant_id, ENDPOINT)
        written = [
            await insert_history(conn, merchant.merchant_id, ENDPOINT, now - timedelta(days=d))
            for d in AGES
        ]
        # In the key's environment.
        await conn.execute(
            text("UPDATE webhook_deliveries SET env = :env WHERE merchant_id = :merchant"),
            {"env": merchant.env, "merchant": merchant.merchant_id},
        )
    newest_first = [w.delivery_id for w in written]
    for limit in (1, 2, 3, 4, 6, 7):
        assert await _pages(client, merchant.headers, limit) == newest_first, limit
    # A page the window fills says more follow, below it.
    first = (await client.get("/webhooks/deliveries?limit=3", headers=merchant.headers)).json()
    assert first["meta"]["has_more"] is True


def test_an_id_s_time_is_its_floor_s_moment_and_other_text_none() -> None:
    at = utcnow().replace(microsecond=123000)
    assert id_time("dlv", f"dlv_{'0' * 9}") is not None
    assert id_time("dlv", "dlv_0mk3x7q2a" + "b" * 15) is not None
    assert id_time("dlv", id_floor("dlv", at)) == at
    assert id_time("dlv", new_id("dlv")) is not None
    for text_ in ("", "dlv", "dlv_", "evt_0mk3x7q2a", "dlv_0MK3X7Q2A", "dlv_0mk3x7q2", "zzz"):
        assert id_time("dlv", text_) is None, text_


async def test_with_a_year_of_weeks_a_first_page_is_planned_over_the_recent_ones(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite's history is one table each")
    async with database_at("head", database_url, tmp_path, request) as db:
        await weekly_partitions(url_of(db))
        statements: list[tuple[str, Any]] = []

        def seen(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
            if "FROM webhook_deliveries" in statement:
                statements.append((statement, parameters))

        now = utcnow()
        async with db.transaction() as conn:
            await conn.execute(
                text(
                    "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at) "
                    "VALUES ('mer_pages', 'Pages', 0, :now)"
                ),
                {"now": now},
            )
            await insert_endpoint(conn, "mer_pages", ENDPOINT)
            for d in range(25):
                await insert_history(conn, "mer_pages", ENDPOINT, now - timedelta(hours=d))
        caller = cast(Caller, SimpleNamespace(merchant_id="mer_pages", env="live"))
        event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
        try:
            outcome = await list_deliveries(db, caller, DeliveriesQuery(limit=20))
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
        assert outcome.meta is not None and outcome.meta["has_more"] is True
        assert len(outcome.data) == 20
        assert len(statements) == 1, statements  # the window filled the page
        statement, parameters = statements[0]
        async with db.read() as conn:
            plan = "\n".join(
                row[0] for row in await conn.exec_driver_sql("EXPLAIN " + statement, parameters)
            )
        read = set(re.findall(r"webhook_deliveries_(p\d{8}|default)", plan))
        # The window's weeks, the weeks made ahead and the default: not the year's 56.
        weeks = int(RECENT / SPAN) + 1
        assert 0 < len(read) <= weeks + AHEAD + 1, plan
