"""A budget's closed windows are pruned as a key's are (``spend.prune_closed``): its calendar,
per-recipient and per-platform windows once closed long enough; its all-time count never."""

from datetime import timedelta

from sqlalchemy import insert

from gateway.policies import spend
from gateway.store.engine import Database
from gateway.store.models import KeySpend, table_of
from gateway.values.clock import utcnow
from tests.fixtures.policies import spend_rows

_S = table_of(KeySpend)


async def test_a_budgets_closed_windows_are_pruned(db: Database) -> None:
    budget = "bgt_" + "p" * 24
    old = utcnow() - timedelta(days=spend.KEEP_CLOSED_DAYS + 1)
    buckets = [
        "daily:2020-01-01",
        "recipient:weekly:2019-12-30:ada@example.com",
        "platform:monthly:2020-01-01:claude",
        "all_time",
    ]
    async with db.transaction() as conn:
        await conn.execute(
            insert(_S),
            [
                {
                    "key_id": budget,
                    "bucket": b,
                    "spent_cents": 1,
                    "limit_cents": 10,
                    "updated_at": old,
                }
                for b in buckets
            ],
        )
    while await spend.prune_closed(db, utcnow()):
        pass
    assert list(await spend_rows(db, budget)) == ["all_time"]
