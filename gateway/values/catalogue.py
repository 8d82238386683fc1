"""The code catalogue as data: what ``GET /codes`` and MCP's catalogue both list."""

from .codes import CATALOGUE
from .model import Model

__all__ = ["CodeEntry", "code_entries"]


class CodeEntry(Model):
    code: int
    name: str
    http_status: int
    message: str


def code_entries() -> list[CodeEntry]:
    return [
        CodeEntry(code=int(c), name=c.name, http_status=i.http_status, message=i.message)
        for c, i in sorted(CATALOGUE.items())
    ]
