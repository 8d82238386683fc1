"""OAuth apps: the apps merchants register, the codes and tokens of each consent

A consent is an ``api_keys`` row (``app_id``, ``granted_by``): its policy, scopes and spend are
a key's, and its tokens (``oauth_tokens``) act as it. Codes and tokens are kept only as their
peppered HMACs, a confidential app's secret likewise.

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oauth_apps",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("merchant_id", sa.String(length=40), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("homepage_url", sa.String(length=2048), nullable=True),
        sa.Column("logo_url", sa.String(length=2048), nullable=True),
        sa.Column("redirect_uris", sa.JSON(), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=True),
        sa.Column("previous_secret_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "previous_secret_expires_at",
            gateway.store.types.UTCDateTime(timezone=True),
            nullable=True,
        ),
        sa.Column("registered_by", sa.String(length=20), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", gateway.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_oauth_apps_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_apps")),
    )
    with op.batch_alter_table("oauth_apps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_oauth_apps_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "oauth_codes",
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("redirect_uri", sa.String(length=2048), nullable=False),
        sa.Column("redirect_uri_given", sa.Boolean(), nullable=False),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("resource", sa.String(length=2048), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("family_id", sa.String(length=40), nullable=False),
        sa.Column("expires_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", gateway.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["oauth_apps.id"], name=op.f("fk_oauth_codes_app_id_oauth_apps")
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_oauth_codes_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("code_hash", name=op.f("pk_oauth_codes")),
    )
    with op.batch_alter_table("oauth_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_codes_app_id"), ["app_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_codes_key_id"), ["key_id"], unique=False)

    op.create_table(
        "oauth_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("family_id", sa.String(length=40), nullable=False),
        sa.Column("resource", sa.String(length=2048), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("expires_at", gateway.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("used_at", gateway.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", gateway.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", gateway.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_id"], ["oauth_apps.id"], name=op.f("fk_oauth_tokens_app_id_oauth_apps")
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["api_keys.id"], name=op.f("fk_oauth_tokens_key_id_api_keys")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_oauth_tokens")),
    )
    with op.batch_alter_table("oauth_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_tokens_app_id"), ["app_id"], unique=False)
        batch_op.create_index("ix_oauth_tokens_family_id", ["family_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_tokens_key_id"), ["key_id"], unique=False)

    # Plain columns: a reference would make SQLite copy api_keys, which every top-up references.
    op.add_column("api_keys", sa.Column("app_id", sa.String(length=40), nullable=True))
    op.add_column("api_keys", sa.Column("granted_by", sa.String(length=40), nullable=True))
    op.create_index(op.f("ix_api_keys_app_id"), "api_keys", ["app_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_api_keys_app_id"), table_name="api_keys")
    for column in ("granted_by", "app_id"):
        if op.get_bind().dialect.name == "sqlite":  # in place (SQLite 3.35): no copy of api_keys
            op.execute(f"ALTER TABLE api_keys DROP COLUMN {column}")
        else:
            op.drop_column("api_keys", column)

    with op.batch_alter_table("oauth_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_tokens_key_id"))
        batch_op.drop_index("ix_oauth_tokens_family_id")
        batch_op.drop_index(batch_op.f("ix_oauth_tokens_app_id"))

    op.drop_table("oauth_tokens")
    with op.batch_alter_table("oauth_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_codes_key_id"))
        batch_op.drop_index(batch_op.f("ix_oauth_codes_app_id"))

    op.drop_table("oauth_codes")
    with op.batch_alter_table("oauth_apps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oauth_apps_merchant_id"))

    op.drop_table("oauth_apps")
