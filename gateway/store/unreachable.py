"""Whether an error says the database could not be reached, rather than that a statement failed.

A stopped, restarting or unreachable PostgreSQL fails a call in several ways, depending on where
it was: refused connections (``ConnectionError``), a server shutting down or starting (SQLSTATE
57P0x), a connection it closed (08xxx), no connection slot left (53300), each raised by asyncpg
itself on the hot path or wrapped by SQLAlchemy elsewhere. Each is an outage that passes,
answered ``503`` (``ops.outage``), never a bug to report with a traceback. Anything else, a
statement's own error included, is not.
"""

import socket

from asyncpg import exceptions as pg
from sqlalchemy.exc import DBAPIError

__all__ = ["is_unreachable"]

_OUTAGE = (
    ConnectionError,  # refused, reset, broken
    socket.gaierror,  # its host name does not resolve
    TimeoutError,  # connecting took too long
    pg.PostgresConnectionError,  # 08xxx, and a connection closed under a statement
    pg.CannotConnectNowError,  # 57P03: starting up, shutting down
    pg.AdminShutdownError,  # 57P01
    pg.CrashShutdownError,  # 57P02
    pg.TooManyConnectionsError,  # 53300: every connection slot taken; passes as others close
)
# How far down the chain of causes to look: SQLAlchemy wraps the driver's error once or twice.
_DEPTH = 5


def is_unreachable(exc: BaseException) -> bool:
    found: BaseException | None = exc
    for _ in range(_DEPTH):
        if found is None:
            return False
        if isinstance(found, _OUTAGE):
            return True
        if isinstance(found, DBAPIError):
            if found.connection_invalidated:
                return True
            found = found.orig or found.__cause__
            continue
        found = found.__cause__ or found.__context__
    return False
