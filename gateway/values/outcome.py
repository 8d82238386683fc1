"""What an operation answers, whatever door it came through (REST, the dashboard, MCP, the CLI).

An operation returns an ``Outcome`` or raises an ``ApiError``; a door runs it through
``operations.perform``, the one place the workers are woken for its outbox rows after commit,
and renders either as the envelope (or a page of its own). Nothing here knows HTTP: the
envelope's body is
the product's answer, with a list's paging (``CursorMeta``, ``PageMeta``, ``OffsetMeta``), so
an operation below the doors builds it whole; the HTTP status and headers are the REST door's
(``gateway.values.envelope``).
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from .clock import rfc3339, utcnow
from .code_names import Code
from .codes import CATALOGUE
from .model import Model

__all__ = [
    "ApiError",
    "CursorMeta",
    "EnvelopeBody",
    "LedgerMeta",
    "OffsetMeta",
    "Outcome",
    "PageMeta",
]

T = TypeVar("T")


class EnvelopeBody(Model):
    success: bool
    code: int
    message: str
    transaction_id: str | None = None
    status: str | None = None
    timestamp: str
    data: Any = None
    meta: dict[str, Any] | None = None

    def render(self) -> bytes:
        # ``meta`` only appears on lists; every other field is always present, null or not.
        exclude = {"meta"} if self.meta is None else None
        return self.model_dump_json(exclude=exclude).encode()


class Identified(Protocol):
    @property
    def id(self) -> str: ...


class CursorMeta(Model):
    """``meta`` of a list paged by cursor (top-ups, deliveries)."""

    limit: int
    has_more: bool
    next_cursor: str | None

    @classmethod
    def of(cls, items: Sequence[Identified], limit: int, has_more: bool) -> "CursorMeta":
        """The next page starts after this one's last item."""
        return cls(limit=limit, has_more=has_more, next_cursor=items[-1].id if has_more else None)


class PageMeta(Model):
    """``meta`` of a list paged by page number (funding history)."""

    current_page: int
    per_page: int
    total: int


class OffsetMeta(Model):
    """``meta`` of a list paged by limit and offset (the ledger, admin lists)."""

    limit: int
    offset: int
    total: int
    has_more: bool

    @classmethod
    def of(cls, limit: int, offset: int, count: int, total: int) -> "OffsetMeta":
        return cls(limit=limit, offset=offset, total=total, has_more=offset + count < total)


class LedgerMeta(Model):
    """``meta`` of the ledger: an offset list (``OffsetMeta``) whose pages may also be read by
    key, each after the last of the page before (``next_cursor``). ``offset`` is null on a page
    read by cursor; ``total`` is the wallet's count of entries, kept with it."""

    limit: int
    offset: int | None
    total: int
    has_more: bool
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """An operation's answer, and the outbox rows (deliveries, mails) it wrote or made due, to
    wake the workers for once its transaction committed. ``timestamp`` is when it
    was decided: a replay answers with the first one's. ``data`` is what the envelope carries,
    a model (or a list of them) kept as it is so a door that renders a page of its own reads it
    typed (``one``, ``many``); ``meta`` is a list's paging, as the envelope carries it. An
    operation only the dashboard offers may answer with a value of its own (a dataclass): no
    envelope ever carries it. ``handed_upstream``: the operation handed a send to its upstream,
    whose first try the door makes now (``topup.inline``); never stored, so a replay is not."""

    code: Code
    data: Any = None
    transaction_id: str | None = None
    status: str | None = None
    message: str | None = None
    timestamp: str = field(default_factory=lambda: rfc3339(utcnow()))
    deliveries: list[str] = field(default_factory=list)
    replayed: bool = False
    meta: dict[str, Any] | None = None
    handed_upstream: bool = False

    def body(self) -> EnvelopeBody:
        return EnvelopeBody(
            success=self.code < 2000,
            code=int(self.code),
            message=self.message or CATALOGUE[self.code].message,
            transaction_id=self.transaction_id,
            status=self.status,
            timestamp=self.timestamp,
            data=_dumped(self.data),
            meta=self.meta,
        )

    def one(self, kind: type[T]) -> T:
        """``data`` as what the operation answers with (a model, or a page's own value)."""
        if not isinstance(self.data, kind):
            raise TypeError(f"{type(self.data).__name__} is not {kind.__name__}")
        return self.data

    def many(self, kind: type[T]) -> list[T]:
        """``data`` as the list a list operation answers with."""
        if not isinstance(self.data, list) or not all(isinstance(i, kind) for i in self.data):
            raise TypeError(f"not a list of {kind.__name__}")
        return self.data

    def stored(self) -> str:
        """The outcome as the idempotency store keeps it: its envelope body."""
        return self.body().render().decode()

    @classmethod
    def from_stored(cls, text: str) -> "Outcome":
        """Rendered again, the stored outcome gives the same bytes."""
        body = json.loads(text)
        return cls(
            Code(body["code"]),
            body["data"],
            transaction_id=body["transaction_id"],
            status=body["status"],
            message=body["message"],
            timestamp=body["timestamp"],
            replayed=True,
            meta=body.get("meta"),
        )


def _dumped(data: Any) -> Any:
    """Models as the JSON the envelope carries (what ``model_dump(mode="json")`` gives)."""
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, list):
        return [_dumped(item) for item in data]
    return data


class ApiError(Exception):
    """Any refusal the API answers with: a code from the catalogue, maybe a detail message."""

    def __init__(
        self,
        code: Code,
        message: str | None = None,
        *,
        data: Any = None,
        transaction_id: str | None = None,
        status: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        self.message = message or CATALOGUE[code].message
        self.data = data
        self.transaction_id = transaction_id
        self.status = status
        self.headers = headers
        super().__init__(f"{int(code)} {self.message}")

    def outcome(self) -> Outcome:
        return Outcome(
            self.code,
            self.data,
            transaction_id=self.transaction_id,
            status=self.status,
            message=self.message,
        )
