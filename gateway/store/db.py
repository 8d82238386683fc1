"""The store's entry point: ``Database`` and the SQLAlchemy engine built once in the lifespan.

``Database(engine)`` (``store.engine``) is the engine class of ``engine``'s dialect:
``SQLiteDatabase`` (``store.sqlite``) or ``PostgresDatabase`` (``store.postgres``), both
imported here so that the choice can find them. ``create_engine`` chooses by the URL.
"""

from sqlalchemy.ext.asyncio import AsyncEngine

from .engine import Database
from .postgres import PostgresDatabase, create_postgres_engine
from .sqlite import SQLiteDatabase, create_sqlite_engine, private_sqlite_file

__all__ = [
    "Database",
    "PostgresDatabase",
    "SQLiteDatabase",
    "create_engine",
    "private_sqlite_file",
]


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """The SQLAlchemy engine for ``url``, set up as its store's ``Database`` needs it."""
    if url.startswith("sqlite"):
        return create_sqlite_engine(url)
    return create_postgres_engine(url, pool_size=pool_size)
