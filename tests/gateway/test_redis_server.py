"""``gateway.redis_server``: a server is started only when it is the one answering on its port,
and a port held for it is no one else's while it is stopped (the tests' private servers stop and
start again on the same port while other processes pick free ports all along)."""

import errno
import shutil
import socket
from pathlib import Path

import pytest

from gateway.redis_server import (
    PortHold,
    RedisRefused,
    RedisServer,
    RedisStartError,
    _answering_pid,
    answers,
)
from tests.fixtures.redis import start_redis


def _binary() -> str:
    binary = shutil.which("redis-server")
    assert binary is not None
    return binary


def test_a_port_another_redis_answers_on_is_not_taken_for_ours(tmp_path: Path) -> None:
    """Another process's Redis took the port before ours bound it: ours exits, and ``start``
    says so instead of returning as if the one answering were ours."""
    theirs = start_redis(tmp_path / "theirs")
    try:
        ours = RedisServer(_binary(), theirs.port, tmp_path / "ours")
        with pytest.raises(RedisStartError, match="another process's"):
            ours.start()
        assert ours.proc is None
        assert theirs.proc is not None
        assert _answering_pid("127.0.0.1", theirs.port) == theirs.proc.pid
    finally:
        theirs.close()


def test_a_stopped_server_keeps_its_port_and_starts_again_on_it(tmp_path: Path) -> None:
    server = start_redis(tmp_path)
    try:
        server.stop()
        # No one else binds it while it is down, nor connects to anything there.
        with socket.socket() as other, pytest.raises(OSError) as taken:
            other.bind(("127.0.0.1", server.port))
        assert taken.value.errno == errno.EADDRINUSE
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        server.start()
        assert server.proc is not None
        assert _answering_pid("127.0.0.1", server.port) == server.proc.pid
    finally:
        server.close()
    # Closed: the port is free again.
    with socket.socket() as other:
        other.bind(("127.0.0.1", server.port))


def test_a_held_port_is_handed_to_no_other_bind() -> None:
    with PortHold() as hold:
        for _ in range(200):
            with socket.socket() as other:
                other.bind(("127.0.0.1", 0))
                assert other.getsockname()[1] != hold.port


def test_a_redis_that_needs_a_password_answers_the_url_that_gives_it(tmp_path: Path) -> None:
    """``make run``'s probe asks as the gateway will, with the URL's password: the server that
    needs one answers the URL that gives it, and refuses (``RedisRefused``, never "none
    answers") one that gives none or a wrong one."""
    with RedisServer(_binary(), None, tmp_path, password="s3cret") as server:
        assert answers(server.url)
        bare = f"redis://127.0.0.1:{server.port}/0"
        for refused in (bare, f"redis://:wrong@127.0.0.1:{server.port}/0"):
            with pytest.raises(RedisRefused):
                answers(refused)
    assert not answers(server.url)  # stopped: none answers
