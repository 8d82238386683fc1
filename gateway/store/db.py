"""The store's entry point: ``open_database``, the ``Database`` of a URL's store.

``open_database(url)`` builds the SQLAlchemy engine the URL's store needs and the engine class
that serves it: ``SQLiteDatabase`` (``store.sqlite``) or ``PostgresDatabase``
(``store.postgres``), both behind the one interface of ``store.engine``.
"""

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncEngine

from ..values.settings import STORE_COMMAND_TIMEOUT_SECONDS, STORE_POOL_TIMEOUT_SECONDS
from .engine import Database
from .postgres import PostgresDatabase, create_postgres_engine
from .sqlite import SQLiteDatabase, create_sqlite_engine

__all__ = ["create_engine", "open_database"]


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    command_timeout: float | None = STORE_COMMAND_TIMEOUT_SECONDS,
    pool_timeout: float = STORE_POOL_TIMEOUT_SECONDS,
    statement_cache: bool = True,
) -> AsyncEngine:
    """The SQLAlchemy engine for ``url``, set up as its store's ``Database`` needs it."""
    if _is_sqlite(url):
        return create_sqlite_engine(url)
    return create_postgres_engine(
        url,
        pool_size=pool_size,
        command_timeout=command_timeout,
        pool_timeout=pool_timeout,
        statement_cache=statement_cache,
    )


def open_database(
    url: str,
    *,
    pool_size: int = 10,
    postgres_settings: Mapping[str, str] | None = None,
    command_timeout: float = STORE_COMMAND_TIMEOUT_SECONDS,
    pool_timeout: float = STORE_POOL_TIMEOUT_SECONDS,
    statement_cache: bool = True,
) -> Database:
    """The ``Database`` of ``url``'s store. ``pool_size``: the PostgreSQL engine's pool (SQLite
    has one writer); ``postgres_settings``: session settings for the driver's own PostgreSQL
    connections, those of ``run``. ``command_timeout`` and ``pool_timeout``: PostgreSQL's
    bounds from this side, on a statement (and a connection's handshake) and on the wait for a
    pooled connection; a call past either raises ``TimeoutError`` (``store.unreachable``).
    SQLite's own waits are bounded in ``store.sqlite`` (its writer's lock, its readers').
    ``statement_cache`` off: PostgreSQL's drivers keep no prepared statement, for a pooler in
    transaction mode that keeps none (``store.postgres``)."""
    engine = create_engine(
        url,
        pool_size=pool_size,
        command_timeout=command_timeout,
        pool_timeout=pool_timeout,
        statement_cache=statement_cache,
    )
    if _is_sqlite(url):
        return SQLiteDatabase(engine)
    return PostgresDatabase(
        engine,
        settings=postgres_settings,
        command_timeout=command_timeout,
        pool_timeout=pool_timeout,
        statement_cache=statement_cache,
    )
