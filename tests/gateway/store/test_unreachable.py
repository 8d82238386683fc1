"""Which errors are the database being away (answered 503), and which are not (a bug: 500)."""

import sqlite3

from asyncpg import exceptions as pg
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from gateway.store.unreachable import is_unreachable, timed_out


def _wrapped(cause: BaseException, *, invalidated: bool = False) -> DBAPIError:
    try:
        raise cause
    except BaseException as exc:
        return DBAPIError("SELECT 1", None, exc, connection_invalidated=invalidated)


def test_a_refused_or_closed_connection_is_an_outage() -> None:
    assert is_unreachable(ConnectionRefusedError(111, "refused"))
    assert is_unreachable(pg.CannotConnectNowError("the database system is shutting down"))
    assert is_unreachable(pg.ConnectionDoesNotExistError("connection was closed"))
    assert is_unreachable(_wrapped(pg.AdminShutdownError("terminating connection")))
    assert is_unreachable(_wrapped(ValueError("gone"), invalidated=True))


def test_a_server_out_of_connection_slots_is_an_outage() -> None:
    # "sorry, too many clients already": it passes as other clients close, so 503, not 500.
    assert is_unreachable(pg.TooManyConnectionsError("sorry, too many clients already"))
    assert is_unreachable(_wrapped(pg.TooManyConnectionsError("too many clients")))


def test_a_statement_s_own_error_is_not() -> None:
    assert not is_unreachable(ValueError("a bug"))
    assert not is_unreachable(pg.UniqueViolationError("duplicate key"))
    assert not is_unreachable(IntegrityError("INSERT", None, ValueError("duplicate")))
    assert not is_unreachable(_wrapped(pg.QueryCanceledError("canceling statement")))


def _busy() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = sqlite3.SQLITE_BUSY
    return error


def test_a_call_past_this_side_s_bound_is_an_outage_that_says_so() -> None:
    """A stalled server refuses nothing: a statement past its ``command_timeout`` (asyncpg's
    ``TimeoutError``), no pooled connection within ``pool_timeout`` (SQLAlchemy's own error),
    SQLite's write lock not had within its wait."""
    past = [TimeoutError(), PoolTimeout("QueuePool limit reached"), _wrapped(_busy())]
    for error in past:
        assert is_unreachable(error) and timed_out(error), error
    assert not timed_out(ConnectionRefusedError(111, "refused"))
    assert not timed_out(_wrapped(sqlite3.OperationalError("no such table: x")))
    assert not is_unreachable(_wrapped(sqlite3.OperationalError("no such table: x")))
