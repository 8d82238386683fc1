"""One poll of the store for every open live stream of this process (``live``).

A stream does no reading of its own: it joins the hub and waits to be woken. While any stream is
open, one task of the process asks the store every ``POLL_SECONDS``, in one statement, whether
the sessions behind the streams still hold (``sessions.holders``), then, once for each merchant
and environment watched, whether what the overview shows may have changed
(``figures.fingerprint``); only then are the regions rendered, once, and handed to every stream
of that view. So a thousand streams of one account cost what one does, and a stream whose
session is signed out (here or in another process), expires, or switches environment ends
within a poll. The caps bound what is left: ``live_streams_per_user`` streams for one user,
``Settings.live_streams_merchant_share`` for one merchant (its users' streams and its
recipients' pages alike, so no tenant takes the process's streams from the others) and
``live_streams_per_process`` in all; past any, ``join`` refuses with ``LIVE_STREAMS_LIMITED``.
A merchant's share alone does not keep the process's streams for the others: free sign-ups, each
a merchant within its share, could hold them all. So a full process makes room for a merchant
that holds fewer streams than another by ending one stream of the merchant that holds the most
(its page reconnects by itself and takes its turn): every merchant gets its even part of the
process, and only when no merchant holds more than one stream over the newcomer is it refused.

A stream of another page than the overview brings its ``Source``: what it shows, how to tell it
changed, and how long it holds (a recipient's page: until its link expires, not a session). It
is polled, shared and capped the same way.
"""

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

from starlette.requests import HTTPConnection

from ..accounts import sessions
from ..callers import Caller
from ..operations import perform
from ..services import Services
from ..store.engine import Database
from ..values.code_names import Code
from ..values.languages import ENGLISH, Reading
from ..values.outcome import ApiError
from . import figures, overview

__all__ = [
    "POLL_SECONDS",
    "RETRY_AFTER_SECONDS",
    "LiveHub",
    "Source",
    "Stream",
    "event",
    "hub_of",
    "state",
]

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
# What a refused stream is told to wait before it tries again.
RETRY_AFTER_SECONDS = 30
_STATE = "live_hub"

# The view a stream shows: one render serves every stream of it. The overview's is its
# merchant, env, wallet and low-balance threshold; another page's is its source's key.
_View = Hashable


class Source(Protocol):
    """A live page other than the overview."""

    @property
    def key(self) -> Hashable: ...

    @property
    def merchant_id(self) -> str:
        """Whose share of the process's streams the stream takes."""
        ...

    async def holds(self, db: Database) -> bool:
        """False once the stream must end (its link expired or was revoked)."""
        ...

    async def fingerprint(self, db: Database) -> tuple[Any, ...]: ...

    async def fragments(self, db: Database) -> dict[str, str]: ...


def event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


SIGNED_OUT = event("signed-out", {})


def _view_of(
    caller: Caller | None, source: "Source | None" = None, reading: Reading = ENGLISH
) -> _View:
    if source is not None:
        return source.key
    assert caller is not None, "the overview's streams have a caller"
    # Readers in two languages see two renders of the same figures.
    return (
        caller.merchant_id,
        caller.env,
        caller.wallet_id,
        caller.low_balance_threshold_cents,
        reading.language,
    )


@dataclass(eq=False)
class Stream:
    """One open stream, as the hub sees it: woken when there is something to send."""

    user_id: str
    session_hash: str
    caller: Caller | None  # the overview's signed-in caller; None with a source
    source: Source | None = None  # None: the overview
    merchant_id: str = ""  # whose share it takes (the caller's, or the source's)
    reading: Reading = ENGLISH  # the overview's: what its reader reads it in
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    update: bytes | None = None  # the latest ``update`` event not sent yet
    last: bytes | None = None  # set: the stream ends, after sending this (if not empty)


@dataclass(eq=False)
class _Watched:
    caller: Caller | None
    source: Source | None = None
    reading: Reading = ENGLISH
    streams: set[Stream] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    seen: tuple[Any, ...] | None = None
    update: bytes | None = None


class LiveHub:
    def __init__(
        self, svc: Services, *, per_user: int, per_process: int, per_merchant: int
    ) -> None:
        self._svc = svc
        self._db = svc.db
        self._per_user = per_user
        self._per_process = per_process
        self._per_merchant = per_merchant
        self._streams: set[Stream] = set()
        self._users: Counter[str] = Counter()
        self._merchants: Counter[str] = Counter()
        self._views: dict[_View, _Watched] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def open_streams(self) -> int:
        return len(self._streams)

    def join(
        self,
        user_id: str,
        session_hash: str,
        caller: Caller | None,
        source: Source | None = None,
        reading: Reading = ENGLISH,
    ) -> Stream:
        """A new stream, or ``LIVE_STREAMS_LIMITED`` past a cap; ``leave`` it when done. A
        stream with a ``source`` shows that page and holds while it does, not by a session."""
        if caller is not None:
            merchant_id = caller.merchant_id
        else:
            assert source is not None, "a stream shows the overview or a source"
            merchant_id = source.merchant_id
        yielding = None
        if len(self._streams) >= self._per_process:
            yielding = self._yielding(merchant_id)
        if (
            self._closed
            or (len(self._streams) >= self._per_process and yielding is None)
            or self._users[user_id] >= self._per_user
            or self._merchants[merchant_id] >= self._per_merchant
        ):
            raise ApiError(
                Code.LIVE_STREAMS_LIMITED, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
            )
        if yielding is not None:
            self._end(yielding, b"")
        stream = Stream(user_id, session_hash, caller, source, merchant_id, reading=reading)
        self._streams.add(stream)
        self._users[user_id] += 1
        self._merchants[merchant_id] += 1
        view = _view_of(caller, source, reading)
        watched = self._views.get(view)
        if watched is None:
            watched = self._views[view] = _Watched(caller, source, reading)
        watched.streams.add(stream)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="dashboard-live-hub")
        return stream

    def _yielding(self, merchant_id: str) -> Stream | None:
        """A stream of the merchant holding the most, if that is more than one over what
        ``merchant_id`` holds: ending it brings the two nearer, never past each other."""
        if not self._merchants:
            return None
        most, held = self._merchants.most_common(1)[0]
        if held <= self._merchants[merchant_id] + 1:
            return None
        return next(s for s in self._streams if s.merchant_id == most)

    def leave(self, stream: Stream) -> None:
        """Idempotent: a stream may end for more than one reason at once."""
        if stream not in self._streams:
            return
        self._streams.discard(stream)
        self._users[stream.user_id] -= 1
        if self._users[stream.user_id] <= 0:
            del self._users[stream.user_id]
        self._merchants[stream.merchant_id] -= 1
        if self._merchants[stream.merchant_id] <= 0:
            del self._merchants[stream.merchant_id]
        view = _view_of(stream.caller, stream.source, stream.reading)
        watched = self._views.get(view)
        if watched is not None:
            watched.streams.discard(stream)
            if not watched.streams:
                del self._views[view]

    async def first(self, stream: Stream) -> bytes:
        """The whole current state of the stream's view: the last render, or a new one when the
        view has none yet (its first stream)."""
        watched = self._views.get(_view_of(stream.caller, stream.source, stream.reading))
        if watched is None:  # left meanwhile
            return b""
        async with watched.lock:
            if watched.update is None:
                watched.seen = await self._fingerprint(watched)
                watched.update = event("update", await self._fragments(watched))
            stream.update = None
            return watched.update

    async def _run(self) -> None:
        while self._streams and not self._closed:
            try:
                await self._poll()
            except Exception:  # the store away a moment: the streams wait, the poll goes on
                log.exception("the dashboard's live poll failed")
            await asyncio.sleep(POLL_SECONDS)

    async def _fingerprint(self, watched: _Watched) -> tuple[Any, ...]:
        if watched.source is not None:
            return await watched.source.fingerprint(self._db)
        assert watched.caller is not None
        return await figures.fingerprint(self._db, watched.caller)

    async def _fragments(self, watched: _Watched) -> dict[str, str]:
        if watched.source is not None:
            return await watched.source.fragments(self._db)
        assert watched.caller is not None
        return await overview.fragments(self._svc, watched.caller, watched.reading)

    async def _poll(self) -> None:
        streams = []
        held_views: dict[_View, bool] = {}  # each page's source asked once a poll
        for stream in list(self._streams):
            if stream.source is None:
                streams.append(stream)
                continue
            view = stream.source.key
            if view not in held_views:
                held_views[view] = await stream.source.holds(self._db)
            if not held_views[view]:
                self._end(stream, b"")  # its link expired or was revoked: the page says so
        checked = sessions.holders(self._db, {s.session_hash for s in streams})
        held: set[tuple[str, str, str]] = (await perform(self._svc.waker, checked)).data
        signed_in = {session for session, _, _ in held}
        for stream in streams:
            caller = stream.caller
            assert caller is not None
            if stream.session_hash not in signed_in:
                self._end(stream, SIGNED_OUT)
            elif (stream.session_hash, caller.env, caller.merchant_id) not in held:
                self._end(stream, b"")  # another environment or merchant: the page reloads it
        for watched in list(self._views.values()):
            if not watched.streams or watched.update is None:
                continue
            async with watched.lock:
                found = await self._fingerprint(watched)
                if found == watched.seen:
                    continue
                watched.seen = found
                watched.update = event("update", await self._fragments(watched))
            for stream in watched.streams:
                stream.update = watched.update
                stream.wake.set()

    def _end(self, stream: Stream, last: bytes) -> None:
        stream.last = last
        stream.wake.set()
        self.leave(stream)

    @asynccontextmanager
    async def running(self) -> AsyncIterator["LiveHub"]:
        """The hub for the app's lifespan: at its end every stream is ended and the poll
        stopped."""
        try:
            yield self
        finally:
            self._closed = True
            for stream in list(self._streams):
                self._end(stream, b"")
            if self._task is not None:
                self._task.cancel()
                with suppress(asyncio.CancelledError):
                    await self._task


def hub_of(conn: HTTPConnection) -> LiveHub:
    found: LiveHub = getattr(conn.state, _STATE)
    return found


def state(hub: LiveHub) -> dict[str, LiveHub]:
    """The lifespan state that ``hub_of`` reads."""
    return {_STATE: hub}
