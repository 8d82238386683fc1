"""``aitopup migrate``: the store's migrations applied."""

import argparse

from ..store.migrate import upgrade
from ..values.settings import load_settings

__all__ = ["migrate"]


def migrate(args: argparse.Namespace) -> int:
    settings = load_settings()
    upgrade(settings.database_url, statement_cache=settings.database_statement_cache)
    print("migrated")
    return 0
