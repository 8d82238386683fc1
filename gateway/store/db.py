"""The store's entry point: ``open_database``, the ``Database`` of a URL's store.

``open_database(url)`` builds the SQLAlchemy engine the URL's store needs and the engine class
that serves it: ``SQLiteDatabase`` (``store.sqlite``) or ``PostgresDatabase``
(``store.postgres``), both behind the one interface of ``store.engine``.
"""

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncEngine

from .engine import Database
from .postgres import PostgresDatabase, create_postgres_engine
from .sqlite import SQLiteDatabase, create_sqlite_engine, private_sqlite_file

__all__ = [
    "Database",
    "PostgresDatabase",
    "SQLiteDatabase",
    "create_engine",
    "open_database",
    "private_sqlite_file",
]


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """The SQLAlchemy engine for ``url``, set up as its store's ``Database`` needs it."""
    if _is_sqlite(url):
        return create_sqlite_engine(url)
    return create_postgres_engine(url, pool_size=pool_size)


def open_database(
    url: str, *, pool_size: int = 10, postgres_settings: Mapping[str, str] | None = None
) -> Database:
    """The ``Database`` of ``url``'s store. ``pool_size``: the PostgreSQL engine's pool (SQLite
    has one writer); ``postgres_settings``: session settings for the driver's own PostgreSQL
    connections, those of ``run``."""
    engine = create_engine(url, pool_size=pool_size)
    if _is_sqlite(url):
        return SQLiteDatabase(engine)
    return PostgresDatabase(engine, settings=postgres_settings)
