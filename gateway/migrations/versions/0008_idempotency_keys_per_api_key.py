"""idempotency keys: each belongs to the API key that used it

``idempotency_keys.api_key_id``: records are unique per API key, env and key (they were per
merchant and env), so no key of a merchant can read another key's reply, or plant a refusal
under an idempotency key another key will use.

Existing rows: a row is kept for the API key that made its top-up, found as the top-up of the
same merchant and env written at the same instant (the send writes both with one clock
reading), so a retry across the upgrade still never debits twice. Where two keys' top-ups
share that instant, each key keeps a copy: a replay, never a second debit. Rows with no top-up
(a refusal: the balance short or a window full) are deleted: a retry is judged again, and a
refusal moved no money. Kept rows stay sealed to the merchant, env and key, which
``gateway.idempotency`` still opens until their TTL has passed and the worker purges them.

Downgrade empties the table: rows sealed to an API key cannot be opened by the code before it.
Run it only where a retry within the TTL of a send before it is known not to happen.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("api_key_id", sa.String(40), nullable=True))
        batch.drop_constraint("uq_idempotency_keys_merchant_id", type_="unique")
    op.execute(
        """INSERT INTO idempotency_keys (merchant_id, api_key_id, env, key, request_hash,
            status_code, response_body, created_at)
        SELECT DISTINCT i.merchant_id, t.api_key_id, i.env, i.key, i.request_hash,
            i.status_code, i.response_body, i.created_at
        FROM idempotency_keys i
        JOIN topups t
            ON t.merchant_id = i.merchant_id AND t.env = i.env AND t.created_at = i.created_at
        WHERE i.api_key_id IS NULL"""
    )
    op.execute("DELETE FROM idempotency_keys WHERE api_key_id IS NULL")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.alter_column("api_key_id", existing_type=sa.String(40), nullable=False)
        batch.create_foreign_key(
            "fk_idempotency_keys_api_key_id_api_keys", "api_keys", ["api_key_id"], ["id"]
        )
        batch.create_unique_constraint(
            "uq_idempotency_keys_api_key_id", ["api_key_id", "env", "key"]
        )


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_keys")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_constraint("uq_idempotency_keys_api_key_id", type_="unique")
        batch.drop_constraint("fk_idempotency_keys_api_key_id_api_keys", type_="foreignkey")
        batch.drop_column("api_key_id")
        batch.create_unique_constraint(
            "uq_idempotency_keys_merchant_id", ["merchant_id", "env", "key"]
        )
