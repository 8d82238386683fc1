"""The engine, built once in the lifespan, and the dialect-specific pieces the services need.

SQLite gets one connection and ``BEGIN IMMEDIATE``: a deferred transaction that later upgrades to
a write fails with SQLITE_BUSY whatever the busy timeout, and a pool of writers only queues on the
file lock. WAL keeps readers in other processes (the worker, the CLI) off the writer's back.
"""

from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

__all__ = ["Database", "create_engine"]

_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    if url.startswith("sqlite"):
        # Every transaction ends in SQLAlchemy's own commit or rollback, so the pool's extra
        # rollback on check-in would only cost a trip to aiosqlite's thread per request.
        engine = create_async_engine(
            url,
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            pool_reset_on_return=None,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy, not the driver, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            for pragma in _SQLITE_PRAGMAS:
                cursor.execute(pragma)
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            # Straight to the driver: one trip to aiosqlite's thread instead of a cursor's three.
            conn.connection.dbapi_connection.run_async(
                lambda driver: driver.execute_fetchall("BEGIN IMMEDIATE")
            )

        return engine
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False
    )


class Database:
    """The engine plus the upsert constructor of its dialect."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        self.insert: Callable[..., Any] = sqlite.insert if self.is_sqlite else postgresql.insert

    def begin(self) -> Any:
        """``async with db.begin() as conn``: one transaction, committed on exit."""
        return self.engine.begin()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()


Connection = AsyncConnection
