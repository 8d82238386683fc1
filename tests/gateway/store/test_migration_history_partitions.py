"""Migration 0077: on PostgreSQL the webhook history already written becomes the first partition
of each history table, with every row in place, and back to one table each, as the models
describe them; SQLite is left as it was."""

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.store.migrate import upgrade_async
from gateway.values.clock import utcnow
from tests.fixtures.history import count_history, insert_endpoint, insert_history, where_is
from tests.fixtures.migrations import (
    database_at,
    differences,
    downgrade_to,
    insert_old_merchant,
    url_of,
)

TABLES = {"events", "webhook_deliveries", "webhook_attempts", "webhook_filtered"}
ENDPOINT = "we_" + "a" * 24
_ODD_EVENT = (
    "INSERT INTO events (id, env, merchant_id, type, payload, created_at) "
    "VALUES ('evt_old', 'live', 'mer_old', 'topup.delivered', '{}', :now)"
)
_PARTITIONED = "SELECT count(*) FROM pg_partitioned_table"


async def test_0077_partitions_the_history_in_place_and_goes_back(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    postgres = not database_url.startswith("sqlite")
    async with database_at("0076", database_url, tmp_path, request) as db:
        async with db.transaction() as conn:
            await insert_old_merchant(conn)
            await insert_endpoint(conn, "mer_old", ENDPOINT)
            written = [
                await insert_history(conn, "mer_old", ENDPOINT, utcnow() - timedelta(days=d))
                for d in (0, 3, 40)
            ]
            # An id no ``new_id`` made sorts past every bound: it goes to the default partition.
            await conn.execute(text(_ODD_EVENT), {"now": utcnow()})
        rows = {table: 3 for table in TABLES} | {"events": 4}

        await upgrade_async(url_of(db), "0077")
        async with db.read() as conn:
            assert await count_history(conn, ENDPOINT) == rows
            if postgres:
                assert (await conn.execute(text(_PARTITIONED))).scalar_one() == len(TABLES)
                for each in written:
                    found = await where_is(conn, "webhook_deliveries", "id", each.delivery_id)
                    assert found == "webhook_deliveries_before"
                assert await where_is(conn, "events", "id", "evt_old") == "events_default"
            else:
                assert await conn.run_sync(differences, TABLES) == []

        await downgrade_to(db, "0076")
        async with db.read() as conn:
            assert await count_history(conn, ENDPOINT) == rows
            assert await conn.run_sync(differences, TABLES) == []
            if postgres:
                assert (await conn.execute(text(_PARTITIONED))).scalar_one() == 0

        await upgrade_async(url_of(db), "0077")
        async with db.transaction() as conn:
            assert await count_history(conn, ENDPOINT) == rows
            # Written after: into the partitions, the week's own or the one of before.
            await insert_history(conn, "mer_old", ENDPOINT, utcnow())
            assert (await count_history(conn, ENDPOINT))["webhook_attempts"] == 4
            if postgres:
                assert await where_is(conn, "events", "id", "evt_old") == "events_default"
