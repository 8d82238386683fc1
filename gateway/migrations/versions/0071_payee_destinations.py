"""payee destinations: a payment to a seller keeps where its money goes (``destination``, as
its protocol names it), which every payee rule keys on, and a key's payments are indexed by it;
``payee_bindings`` holds the destinations a person bound to an origin

A payment written before has its protocol and payee as its destination (x402's ``payTo``, in
lower case, without its network and asset; MPP's realm): its key's next payment to that seller
is then a first one (held where the key asks so), never a known one it was not.

Back: the bindings, the index and the column go; the index of a key's payments by origin
returns.

Revision ID: 0071
Revises: 0070
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0071"
down_revision: str | None = "0070"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WIDTH = 270  # store.models.payments.MAX_DESTINATION, as of this revision


def upgrade() -> None:
    op.add_column("seller_payments", sa.Column("destination", sa.String(WIDTH), nullable=True))
    op.execute("UPDATE seller_payments SET destination = protocol || ':' || lower(payee)")
    with op.batch_alter_table("seller_payments") as table:  # SQLite alters by a copy
        table.alter_column("destination", existing_type=sa.String(WIDTH), nullable=False)
        table.drop_index("ix_seller_payments_key_payee")
        table.create_index("ix_seller_payments_key_destination", ["api_key_id", "destination"])
    op.create_table(
        "payee_bindings",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("env", sa.String(10), nullable=False),
        sa.Column("origin", sa.String(300), nullable=False),
        sa.Column("destination", sa.String(WIDTH), nullable=False),
        sa.Column("bound_by", sa.String(60), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_payee_bindings_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payee_bindings")),
        sa.UniqueConstraint(
            "merchant_id",
            "env",
            "origin",
            "destination",
            name=op.f("uq_payee_bindings_merchant_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("payee_bindings")
    with op.batch_alter_table("seller_payments") as table:
        table.drop_index("ix_seller_payments_key_destination")
        table.create_index("ix_seller_payments_key_payee", ["api_key_id", "payee_origin"])
        table.drop_column("destination")
