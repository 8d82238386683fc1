"""``aitopup migrate``: the store's migrations applied."""

import argparse

from ..store.migrate import upgrade
from ..values.settings import load_settings

__all__ = ["migrate"]


def migrate(args: argparse.Namespace) -> int:
    upgrade(load_settings().database_url)
    print("migrated")
    return 0
