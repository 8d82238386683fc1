"""Run Alembic from code, so `aitopup migrate`, `make run` and the tests share one path.

Alembic is imported when a migration runs, not with this module: the command line imports it
for ``aitopup migrate``, and every other command would pay its sixth of a second.
"""

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from .sqlite import private_sqlite_file, sqlite_file_opens

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["alembic_config", "upgrade"]

_SCRIPTS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str, *, statement_cache: bool = True) -> "Config":
    """``statement_cache`` off: the migrations' connection keeps no prepared statement
    (``Settings.database_statement_cache``), for a pooler in transaction mode."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.set_main_option("sqlalchemy.url", database_url)
    config.attributes["statement_cache"] = statement_cache
    return config


def upgrade(database_url: str, revision: str = "heads", *, statement_cache: bool = True) -> None:
    """Blocking; env.py runs its own event loop, so call it outside one (or via ``to_thread``)."""
    from alembic import command

    private_sqlite_file(database_url)
    sqlite_file_opens(database_url)
    command.upgrade(alembic_config(database_url, statement_cache=statement_cache), revision)


async def upgrade_async(database_url: str, revision: str = "heads") -> None:
    await asyncio.to_thread(upgrade, database_url, revision)
