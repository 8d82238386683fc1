"""merchant names are labels; invitations wait for an existing account to accept them

A merchant is named by its id: two merchants may share a name, so signing up under a name
tells nobody whether it was in use, and no name can be taken first to capture an operator's
invitation or key. ``merchant_invitations`` holds an operator's invitation of a user who
already has an account until that user, signed in, accepts it.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rebuild_merchants(unique: bool) -> None:
    """On SQLite a unique constraint goes only with a copy of the table, which other tables
    reference, and their checks can be switched off only outside a transaction. So the checks
    are deferred to commit, the new table takes the old one's name, and the rows go in after
    it: each row put back answers the references its removal left open."""
    if op.get_bind().dialect.name != "sqlite":
        if unique:
            op.create_unique_constraint(op.f("uq_merchants_name"), "merchants", ["name"])
        else:
            op.drop_constraint(op.f("uq_merchants_name"), "merchants", type_="unique")
        return
    op.execute("PRAGMA defer_foreign_keys=ON")
    op.execute("CREATE TABLE _merchants_held AS SELECT * FROM merchants")
    op.create_table(
        "_merchants_new",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("low_balance_threshold_cents", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchants")),
        *([sa.UniqueConstraint("name", name=op.f("uq_merchants_name"))] if unique else []),
    )
    op.execute("DROP TABLE merchants")
    op.execute("ALTER TABLE _merchants_new RENAME TO merchants")
    op.execute(
        "INSERT INTO merchants (id, name, low_balance_threshold_cents, created_at) "
        "SELECT id, name, low_balance_threshold_cents, created_at FROM _merchants_held"
    )
    op.execute("DROP TABLE _merchants_held")


def upgrade() -> None:
    _rebuild_merchants(unique=False)
    op.create_table(
        "merchant_invitations",
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("user_id", sa.String(40), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_merchant_invitations_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_merchant_invitations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("merchant_id", "user_id", name=op.f("pk_merchant_invitations")),
    )
    op.create_index("ix_merchant_invitations_user_id", "merchant_invitations", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_merchant_invitations_user_id", table_name="merchant_invitations")
    op.drop_table("merchant_invitations")
    _rebuild_merchants(unique=True)
