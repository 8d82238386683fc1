"""an order's provider session is unique within the provider's account, not across every
provider: the account the channel's credentials name is kept on the order, and the session id
is unique per channel, environment and account

Revision ID: 0037
Revises: 0036
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "funding_orders"
_GLOBAL = "uq_funding_orders_provider_session_id"
_SCOPED = "uq_funding_orders_provider_session"
_SCOPE = ["channel", "env", "provider_account", "provider_session_id"]


def _children(conn: Connection) -> list[str]:
    """The tables whose foreign keys refer to ``funding_orders``."""
    names = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'").scalars()
    return [
        name
        for name in names
        if any(
            row[2] == _TABLE
            for row in conn.exec_driver_sql(f"PRAGMA foreign_key_list('{name}')").fetchall()
        )
    ]


@contextmanager
def _rebuilt() -> Iterator[Any]:
    """SQLite changes a constraint by rebuilding the table (a copy, the old one dropped, the
    copy renamed), and dropping a table that others refer to deletes through their foreign
    keys, which a migration's transaction cannot switch off. So each table that refers to it
    (``order_refunds``) is set aside first, its rows kept, and made again as it was (its own
    stored definition and indexes) once the table stands again."""
    conn = op.get_bind()
    kept: list[tuple[str, list[str]]] = []
    if conn.dialect.name == "sqlite":
        for child in _children(conn):
            schema: list[str] = list(
                conn.exec_driver_sql(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
                    "ORDER BY type = 'index'",
                    (child,),
                ).scalars()
            )
            kept.append((child, schema))
            # The names are the schema's own, read from ``sqlite_master`` above.
            kept_rows = f"CREATE TEMP TABLE _kept_{child} AS SELECT * FROM {child}"  # noqa: S608
            conn.exec_driver_sql(kept_rows)
            conn.exec_driver_sql(f"DROP TABLE {child}")
    with op.batch_alter_table(_TABLE) as batch:
        yield batch
    for child, schema in kept:
        for statement in schema:
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(f"INSERT INTO {child} SELECT * FROM _kept_{child}")  # noqa: S608
        conn.exec_driver_sql(f"DROP TABLE _kept_{child}")


def upgrade() -> None:
    with _rebuilt() as batch:
        batch.add_column(
            sa.Column(
                "provider_account",
                sa.String(length=255),
                nullable=False,
                server_default=sa.text("''"),
            )
        )
        batch.drop_constraint(_GLOBAL, type_="unique")
        batch.create_unique_constraint(_SCOPED, _SCOPE)


def downgrade() -> None:
    with _rebuilt() as batch:
        batch.drop_constraint(_SCOPED, type_="unique")
        batch.create_unique_constraint(_GLOBAL, ["provider_session_id"])
        batch.drop_column("provider_account")
