"""Whether an error says the database could not be reached, rather than that a statement failed.

A stopped, restarting or unreachable PostgreSQL fails a call in several ways, depending on where
it was: refused connections (``ConnectionError``), a server shutting down or starting (SQLSTATE
57P0x), a connection it closed (08xxx), no connection slot left (53300), each raised by asyncpg
itself on the hot path or wrapped by SQLAlchemy elsewhere. Each is an outage that passes,
answered ``503`` (``ops.outage``), never a bug to report with a traceback. Anything else, a
statement's own error included, is not.

A server that stalls (stopped, out of disk, behind a network that drops packets) refuses nothing:
a call ends at this side's bound instead (``timed_out``): a statement past its
``command_timeout``, no pooled connection within ``pool_timeout``, SQLite's write lock not had
within its wait. That too is an outage, told apart so the answer can say so (9003).
"""

import socket
import sqlite3

from asyncpg import exceptions as pg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

__all__ = ["is_unreachable", "timed_out"]

# This side's bounds: a statement, a handshake or the wait for a pooled connection, past its
# time (asyncpg raises ``TimeoutError`` for the first two and its pool's wait, SQLAlchemy's
# pool its own).
_TIMED_OUT = (TimeoutError, PoolTimeout)
_OUTAGE = (
    ConnectionError,  # refused, reset, broken
    socket.gaierror,  # its host name does not resolve
    *_TIMED_OUT,
    pg.PostgresConnectionError,  # 08xxx, and a connection closed under a statement
    pg.CannotConnectNowError,  # 57P03: starting up, shutting down
    pg.AdminShutdownError,  # 57P01
    pg.CrashShutdownError,  # 57P02
    pg.TooManyConnectionsError,  # 53300: every connection slot taken; passes as others close
)
# How far down the chain of causes to look: SQLAlchemy wraps the driver's error once or twice.
_DEPTH = 5


def _sqlite_busy(exc: BaseException) -> bool:
    """SQLite's write lock not had within the writer's wait (``store.sqlite``)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        isinstance(exc, sqlite3.OperationalError)
        and code is not None
        and code & 0xFF
        in (
            sqlite3.SQLITE_BUSY,
            sqlite3.SQLITE_LOCKED,
        )
    )


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps, down to ``_DEPTH``."""
    found: BaseException | None = exc
    chain: list[BaseException] = []
    for _ in range(_DEPTH):
        if found is None:
            break
        chain.append(found)
        if isinstance(found, DBAPIError):
            found = found.orig or found.__cause__
        else:
            found = found.__cause__ or found.__context__
    return chain


def is_unreachable(exc: BaseException) -> bool:
    for found in _causes(exc):
        if isinstance(found, _OUTAGE) or _sqlite_busy(found):
            return True
        if isinstance(found, DBAPIError) and found.connection_invalidated:
            return True
    return False


def timed_out(exc: BaseException) -> bool:
    """Whether ``exc`` is a call that ended at this side's bound on the store."""
    return any(isinstance(found, _TIMED_OUT) or _sqlite_busy(found) for found in _causes(exc))
