"""The type of a row a Core statement answers (``conn.execute(select(...))``), whatever its
columns: its fields are read by name. Rows of the driver's hot path (``store.raw``) are dicts."""

from typing import Any, TypeAlias

from sqlalchemy import Row

__all__ = ["CoreRow"]

CoreRow: TypeAlias = Row[*tuple[Any, ...]]
