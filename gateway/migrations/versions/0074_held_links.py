"""approval links name what they decide by its kind and id (``held_kind``, ``held_id``), so a
kind of hold adds no column: each link of a send or a payment keeps what it named; and back,
to a column per kind (a link of any other kind, which the columns cannot name, dropped)

Revision ID: 0074
Revises: 0073
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0074"
down_revision: str | None = "0073"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The kinds the columns before named, by the name each hold records (``approvals.held``).
_COLUMNS = (("topup", "topup_id", "topups"), ("payment", "payment_id", "seller_payments"))


def upgrade() -> None:
    with op.batch_alter_table("approval_links") as table:  # SQLite alters by a copy
        table.add_column(sa.Column("held_kind", sa.String(16), nullable=True))
        table.add_column(sa.Column("held_id", sa.String(40), nullable=True))
    for kind, column, _ in _COLUMNS:
        op.execute(
            f"UPDATE approval_links SET held_kind = '{kind}', held_id = {column} "  # noqa: S608
            f"WHERE {column} IS NOT NULL"
        )
    op.drop_index("ix_approval_links_topup_id", table_name="approval_links")
    op.drop_index("ix_approval_links_payment_id", table_name="approval_links")
    with op.batch_alter_table("approval_links") as table:
        table.drop_constraint(op.f("ck_approval_links_one_held"), type_="check")
        for _, column, target in _COLUMNS:
            table.drop_constraint(op.f(f"fk_approval_links_{column}_{target}"), type_="foreignkey")
            table.drop_column(column)
        table.alter_column("held_kind", existing_type=sa.String(16), nullable=False)
        table.alter_column("held_id", existing_type=sa.String(40), nullable=False)
    op.create_index("ix_approval_links_held", "approval_links", ["held_id"])


def downgrade() -> None:
    op.drop_index("ix_approval_links_held", table_name="approval_links")
    kinds = ", ".join(f"'{kind}'" for kind, _, _ in _COLUMNS)
    op.execute(f"DELETE FROM approval_links WHERE held_kind NOT IN ({kinds})")  # noqa: S608
    with op.batch_alter_table("approval_links") as table:
        for _, column, target in _COLUMNS:
            table.add_column(sa.Column(column, sa.String(40), nullable=True))
            table.create_foreign_key(
                op.f(f"fk_approval_links_{column}_{target}"), target, [column], ["id"]
            )
    for kind, column, _ in _COLUMNS:
        op.execute(
            f"UPDATE approval_links SET {column} = held_id "  # noqa: S608
            f"WHERE held_kind = '{kind}'"
        )
    with op.batch_alter_table("approval_links") as table:
        table.create_check_constraint(
            op.f("ck_approval_links_one_held"), "(topup_id IS NULL) <> (payment_id IS NULL)"
        )
        table.drop_column("held_id")
        table.drop_column("held_kind")
    op.create_index("ix_approval_links_topup_id", "approval_links", ["topup_id"])
    op.create_index("ix_approval_links_payment_id", "approval_links", ["payment_id"])
