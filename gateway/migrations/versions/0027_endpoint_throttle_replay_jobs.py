"""endpoint throttle and replay jobs: a per-endpoint delivery rate with its next free slot, and
webhook_replay_jobs, a filtered replay run by the worker in bounded batches

Revision ID: 0027
Revises: 0026
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("throttle_per_second", "throttle_next_us")


def upgrade() -> None:
    op.add_column(
        "webhook_endpoints", sa.Column("throttle_per_second", sa.Integer(), nullable=True)
    )
    op.add_column(
        "webhook_endpoints", sa.Column("throttle_next_us", sa.BigInteger(), nullable=True)
    )
    op.add_column(
        "webhook_deliveries", sa.Column("throttle_slot_us", sa.BigInteger(), nullable=True)
    )
    op.create_table(
        "webhook_replay_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("env", sa.String(length=10), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=False),
        sa.Column("filter", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("matched", sa.Integer(), nullable=False),
        sa.Column("enqueued", sa.Integer(), nullable=False),
        sa.Column("cursor", sa.String(length=80), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["merchant_id"], ["merchants.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_webhook_replay_jobs_due", "webhook_replay_jobs", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_webhook_replay_jobs_merchant_env_id",
        "webhook_replay_jobs",
        ["merchant_id", "env", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_replay_jobs_merchant_env_id", table_name="webhook_replay_jobs")
    op.drop_index("ix_webhook_replay_jobs_due", table_name="webhook_replay_jobs")
    op.drop_table("webhook_replay_jobs")
    _drop("webhook_deliveries", "throttle_slot_us")
    for column in reversed(_COLUMNS):
        _drop("webhook_endpoints", column)


def _drop(table: str, column: str) -> None:
    if op.get_bind().dialect.name == "sqlite":  # in place: no copy of a referenced table
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:
        op.drop_column(table, column)
