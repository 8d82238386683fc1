"""The one reach into SQLAlchemy's asyncpg adapter: beginning its transaction at once.

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

__all__ = ["begin_now"]


def begin_now(conn: Connection) -> None:
    """SQLAlchemy's ``begin`` event on PostgreSQL: BEGIN on the driver now, not later."""
    # The pool's adapter, typed by SQLAlchemy as a bare DBAPI connection.
    adapter: Any = conn.connection.dbapi_connection
    adapter.run_async(lambda _driver: adapter._start_transaction())
