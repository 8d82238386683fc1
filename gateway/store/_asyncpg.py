"""The reaches into SQLAlchemy's asyncpg adapter: beginning its transaction at once, and never
reusing a connection a transaction was left open on.

The adapter sends BEGIN only with the first statement it runs itself, so a driver statement
(``store.raw``) run first in a SQLAlchemy transaction would run outside it, in autocommit.
Beginning at SQLAlchemy's ``begin`` costs no trip the adapter would not make anyway (it begins
before its first statement), where running a statement of its own first to make it begin cost
one. The adapter offers no public way to begin, so this calls its private
``_start_transaction``, which also records the transaction it commits or rolls back.
``tests/gateway/store/test_db.py`` fails if SQLAlchemy changes it; the dependency is bounded
in ``pyproject.toml``.
"""

from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

__all__ = ["begin_now", "refuse_open_transaction"]


def begin_now(conn: Connection) -> None:
    """SQLAlchemy's ``begin`` event on PostgreSQL: BEGIN on the driver now, not later."""
    # The pool's adapter, typed by SQLAlchemy as a bare DBAPI connection.
    adapter: Any = conn.connection.dbapi_connection
    adapter.run_async(lambda _driver: adapter._start_transaction())


def refuse_open_transaction(
    dbapi_conn: Any, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """The pool's ``checkout`` event: a connection still in a transaction is discarded (the
    pool closes it, which rolls the transaction back, and checks out another).

    A task cancelled inside ``begin_now`` (a stream whose client left, cancelled by anyio at
    every await) can leave asyncpg's transaction begun with the adapter unaware of it, so the
    pool's rollback on check-in sends nothing. Reused, every later transaction on that
    connection would start as a savepoint inside the leftover one: its "commit" would release
    the savepoint and keep nothing, reads on the same connection would see rows no other
    connection can (a user signed up, then a foreign-key violation on their session), and all
    of it would be lost when the connection closed."""
    if dbapi_conn.driver_connection.is_in_transaction():
        raise DisconnectionError("a transaction was left open on this connection")
