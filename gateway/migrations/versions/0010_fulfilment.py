"""fulfilment: provider settings per merchant, env and platform; the upstream work's outbox;
one upstream key per recipient

``fulfilment_settings`` holds which provider turns a merchant's top-ups on one platform into
spendable credit (``voucher`` when there is no row), its credentials sealed. ``fulfilments`` is
the outbox of upstream work: a row per top-up that an upstream fulfils, written in the send's
transaction, so a lost job or a killed process loses nothing. ``upstream_keys`` holds the one
key an upstream (OpenRouter) keeps per recipient of a merchant in an environment, sealed.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gateway.store.types import UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fulfilment_settings",
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("env", sa.String(10), nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("base_url", sa.String(2048), nullable=True),
        sa.Column("account", sa.String(100), nullable=True),
        sa.Column("credentials_sealed", sa.Text(), nullable=True),
        sa.Column("quota_per_usd", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_fulfilment_settings_merchant_id_merchants"),
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id", "env", "platform", name=op.f("pk_fulfilment_settings")
        ),
    )
    op.create_table(
        "fulfilments",
        sa.Column("topup_id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("env", sa.String(10), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("reference", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["topup_id"], ["topups.id"], name=op.f("fk_fulfilments_topup_id_topups")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_fulfilments_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("topup_id", name=op.f("pk_fulfilments")),
        sa.UniqueConstraint("reference", name=op.f("uq_fulfilments_reference")),
    )
    op.create_index("ix_fulfilments_due", "fulfilments", ["status", "next_attempt_at"])
    op.create_table(
        "upstream_keys",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("merchant_id", sa.String(40), nullable=False),
        sa.Column("env", sa.String(10), nullable=False),
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("recipient_email", sa.String(254), nullable=False),
        sa.Column("label", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(200), nullable=True),
        sa.Column("key_sealed", sa.Text(), nullable=True),
        sa.Column("limit_cents", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_upstream_keys_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_keys")),
        sa.UniqueConstraint(
            "merchant_id",
            "env",
            "provider",
            "recipient_email",
            name=op.f("uq_upstream_keys_merchant_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("upstream_keys")
    op.drop_index("ix_fulfilments_due", table_name="fulfilments")
    op.drop_table("fulfilments")
    op.drop_table("fulfilment_settings")
