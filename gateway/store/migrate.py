"""Run Alembic from code, so `aitopup migrate`, `make run` and the tests share one path."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from .db import private_sqlite_file

__all__ = ["alembic_config", "upgrade"]

_SCRIPTS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Blocking; env.py runs its own event loop, so call it outside one (or via ``to_thread``)."""
    private_sqlite_file(database_url)
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "heads") -> None:
    await asyncio.to_thread(upgrade, database_url, revision)
