"""The one declarative base every table is a model of: its metadata, the naming
convention of its constraints and indexes, and the column types its annotations map to."""

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, MetaData, Table
from sqlalchemy.orm import DeclarativeBase

from ..types import UTCDateTime

__all__ = ["Base", "table_of"]

_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


def table_of(model: type[Base]) -> Table:
    """The Core table of a model, typed for ``insert``/``update``/``delete``."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
