"""The pool's guard on PostgreSQL: never reuse a connection a transaction was left open on.

Through documented names only: SQLAlchemy's ``checkout`` pool event, which may refuse a
connection by raising ``DisconnectionError``, and asyncpg's ``Connection.is_in_transaction``.
"""

from typing import Any

from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

__all__ = ["refuse_open_transaction"]


def refuse_open_transaction(
    dbapi_conn: Any, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """The pool's ``checkout`` event: a connection still in a transaction is discarded (the
    pool closes it, which rolls the transaction back, and checks out another).

    A task cancelled while SQLAlchemy's asyncpg adapter begins (a stream whose client left,
    cancelled by anyio at every await) can leave asyncpg's transaction begun with the adapter
    unaware of it, so the pool's rollback on check-in sends nothing. Reused, every later
    transaction on that connection would start as a savepoint inside the leftover one: its
    "commit" would release the savepoint and keep nothing, reads on the same connection would
    see rows no other connection can (a user signed up, then a foreign-key violation on their
    session), and all of it would be lost when the connection closed."""
    if dbapi_conn.driver_connection.is_in_transaction():
        raise DisconnectionError("a transaction was left open on this connection")
