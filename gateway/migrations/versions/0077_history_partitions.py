"""webhook history partitioned by week on PostgreSQL (``store.partitions``): events,
deliveries, attempts and the rows of events filters dropped; the history already written is one
partition of each (up to the next week), dropped whole once past retention, a ``DEFAULT``
partition each, and the next weeks made; and back, one table each again. SQLite unchanged.

Up renames each table and attaches it as its first partition: no row is copied, its indexes are
taken over as they are; what it costs is the scan that checks its rows against its bound and
the two indexes built anew (an attempt's key, now with its delivery's id; a delivery's event
id, no longer unique on its own). Down copies every row back into one table.

Revision ID: 0077
Revises: 0076
"""

from collections.abc import Sequence
from datetime import UTC, datetime

from alembic import op
from sqlalchemy import text

from gateway.store.partitions import AHEAD, HISTORY, SPAN, attach_sql, week_of

revision: str = "0077"
down_revision: str | None = "0076"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RELAYED = (
    "type IN ('balance.low', 'balance.recovered', 'key.budget_threshold', "
    "'key.budget_recovered', 'budget.threshold', 'budget.recovered')"
)
_ORDERED_HEAD = "status = 'pending' AND trigger = 'auto'"
_INDEXES = {
    "events": [
        "CREATE INDEX ix_events_merchant_env_id ON events (merchant_id, env, id)",
        f"CREATE INDEX ix_events_balance_low ON events (merchant_id, id) WHERE {_RELAYED}",
    ],
    "webhook_deliveries": [
        "CREATE INDEX ix_webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
        "CREATE INDEX ix_webhook_deliveries_merchant_env_id "
        "ON webhook_deliveries (merchant_id, env, id)",
        "CREATE INDEX ix_webhook_deliveries_endpoint_created "
        "ON webhook_deliveries (endpoint_id, created_at)",
        "CREATE INDEX ix_webhook_deliveries_ordered_head "
        f"ON webhook_deliveries (endpoint_id, created_at, id) WHERE {_ORDERED_HEAD}",
        "CREATE INDEX ix_webhook_deliveries_held_endpoint "
        "ON webhook_deliveries (endpoint_id, id) WHERE throttle_slot_us IS NOT NULL",
        "CREATE INDEX ix_webhook_deliveries_batch ON webhook_deliveries "
        f"(batch_head, created_at, id) WHERE batch_head IS NOT NULL AND {_ORDERED_HEAD}",
        "CREATE INDEX ix_webhook_deliveries_held ON webhook_deliveries "
        "(status, next_attempt_at) WHERE throttle_slot_us IS NOT NULL",
    ],
    "webhook_attempts": [
        "CREATE INDEX ix_webhook_attempts_delivery_id ON webhook_attempts (delivery_id, attempt)"
    ],
    "webhook_filtered": [],
}
_FKS = {
    "events": [
        "fk_events_merchant_id_merchants FOREIGN KEY (merchant_id) REFERENCES merchants (id)"
    ],
    "webhook_deliveries": [
        "fk_webhook_deliveries_endpoint_id_webhook_endpoints FOREIGN KEY (endpoint_id) "
        "REFERENCES webhook_endpoints (id)",
        "fk_webhook_deliveries_merchant_id_merchants FOREIGN KEY (merchant_id) "
        "REFERENCES merchants (id)",
    ],
    "webhook_attempts": [],
    "webhook_filtered": [],
}
# The keys as the partitioned tables hold them: each with its partition key.
_KEYS_UP = {
    "events": ["pk_events PRIMARY KEY (id)"],
    "webhook_deliveries": ["pk_webhook_deliveries PRIMARY KEY (id)"],
    "webhook_attempts": ["pk_webhook_attempts PRIMARY KEY (delivery_id, id)"],
    "webhook_filtered": ["pk_webhook_filtered PRIMARY KEY (endpoint_id, created_at, event_id)"],
}
# Each delivery's event, no longer unique on its own: read by retention's "no delivery left".
_EVENT_OF_DELIVERY = "CREATE INDEX ix_webhook_deliveries_event_id ON webhook_deliveries (event_id)"
_KEYS_DOWN = {
    **_KEYS_UP,
    "webhook_deliveries": [
        "pk_webhook_deliveries PRIMARY KEY (id)",
        "uq_webhook_deliveries_event_id UNIQUE (event_id, endpoint_id)",
    ],
    "webhook_attempts": ["pk_webhook_attempts PRIMARY KEY (id)"],
}
# The foreign keys between history tables, which partitions do without (``store.partitions``).
_BETWEEN = [
    "ALTER TABLE webhook_deliveries ADD CONSTRAINT fk_webhook_deliveries_event_id_events "
    "FOREIGN KEY (event_id) REFERENCES events (id)",
    "ALTER TABLE webhook_attempts ADD CONSTRAINT "
    "fk_webhook_attempts_delivery_id_webhook_deliveries "
    "FOREIGN KEY (delivery_id) REFERENCES webhook_deliveries (id)",
]
# Dropped from the tables as they were: a key without the partition key (which the parent's own
# key replaces).
_DROPPED = {
    "uq_webhook_deliveries_event_id",
    "pk_webhook_attempts",
}
_SEQUENCE = "ALTER SEQUENCE webhook_attempts_id_seq OWNED BY {}.id"


def _names_apart(table: str) -> None:
    """``table``'s constraints and indexes renamed ``…_before``, so its partitioned successor
    takes their names; a key without the partition key is dropped."""
    bind = op.get_bind()
    constraints = bind.execute(
        text(
            "SELECT conname, contype::text FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)"
        ),
        {"t": table},
    ).all()
    for name, kind in constraints:
        if name in _DROPPED:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {name}")
        elif kind in ("p", "u", "f"):
            op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {name} TO {name}_before")
    indexes = bind.execute(
        text(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = CAST(:t AS regclass)"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = indexrelid)"
        ),
        {"t": table},
    ).scalars()
    for index in list(indexes):
        op.execute(f"ALTER INDEX {index} RENAME TO {index}_before")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    first = week_of(datetime.now(UTC)) + SPAN
    # First, as rows move between partitions below.
    op.execute(
        "ALTER TABLE webhook_deliveries DROP CONSTRAINT fk_webhook_deliveries_event_id_events"
    )
    op.execute(
        "ALTER TABLE webhook_attempts "
        "DROP CONSTRAINT fk_webhook_attempts_delivery_id_webhook_deliveries"
    )
    for history in HISTORY:
        table, before = history.table, f"{history.table}_before"
        op.execute(f"ALTER TABLE {table} RENAME TO {before}")
        _names_apart(before)
        op.execute(
            f"CREATE TABLE {table} (LIKE {before} INCLUDING DEFAULTS) "
            f"PARTITION BY RANGE ({history.key})"
        )
        for key in _KEYS_UP[table]:
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {key}")
        for index in _INDEXES[table]:
            op.execute(index)
        if table == "webhook_deliveries":
            op.execute(_EVENT_OF_DELIVERY)
        for fk in _FKS[table]:
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {fk}")
        if table == "webhook_attempts":
            op.execute(_SEQUENCE.format(table))
        op.execute(f"CREATE TABLE {history.default} PARTITION OF {table} DEFAULT {history.options}")
        # A key past the bound (an id not made by ``new_id``, a time ahead) goes to the default.
        bound = history.bound(first)
        op.execute(
            f"WITH moved AS (DELETE FROM {before} WHERE {history.key} >= {bound} RETURNING *) "  # noqa: S608
            f"INSERT INTO {history.default} SELECT * FROM moved"
        )
        op.execute(
            f"ALTER TABLE {table} ATTACH PARTITION {before} FOR VALUES FROM (MINVALUE) TO ({bound})"
        )
        for week in range(AHEAD):
            for statement in attach_sql(history, first + week * SPAN):
                op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for history in reversed(HISTORY):
        table, flat = history.table, f"{history.table}_flat"
        op.execute(f"CREATE TABLE {flat} (LIKE {table} INCLUDING DEFAULTS) {history.options}")
        op.execute(f"INSERT INTO {flat} SELECT * FROM {table}")  # noqa: S608
        if table == "webhook_attempts":
            op.execute(_SEQUENCE.format(flat))
        op.execute(f"DROP TABLE {table}")
        op.execute(f"ALTER TABLE {flat} RENAME TO {table}")
        for key in _KEYS_DOWN[table]:
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {key}")
        for index in _INDEXES[table]:
            op.execute(index)
        for fk in _FKS[table]:
            op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {fk}")
    for fk in _BETWEEN:
        op.execute(fk)
