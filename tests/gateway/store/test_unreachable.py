"""Which errors are the database being away (answered 503), and which are not (a bug: 500)."""

from asyncpg import exceptions as pg
from sqlalchemy.exc import DBAPIError, IntegrityError

from gateway.store.unreachable import is_unreachable


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
