"""Alembic environment: async engine, URL from the caller or from Settings."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from gateway.store.db import create_engine
from gateway.store.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: run migrations through `aitopup migrate`")
    return url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    # A migration's statements take as long as the data needs (an operator runs it and
    # watches): no bound on a statement, as the serving processes have.
    statement_cache = bool(config.attributes.get("statement_cache", True))
    engine = create_engine(_url(), command_timeout=None, statement_cache=statement_cache)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        # Also when the store cannot be opened: a driver's thread left running would report
        # to a loop already closed, a traceback after the start's one line.
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_online())
