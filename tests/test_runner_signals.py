"""A server a test runs in the runner's event loop leaves the runner's SIGTERM and SIGINT alone:
uvicorn's own handlers would turn a SIGTERM or Ctrl-C sent to the run's process group into "stop
serving", so the runner carried on while the signal ended every child in its group (the
session's Redis, a process under test such as the soak)."""

import signal

from gateway.values.settings import Settings
from tests.fixtures.core import live_server, local_client


async def test_a_live_server_leaves_the_runners_signal_handlers_alone(settings: Settings) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    async with live_server(settings) as root, local_client(base_url=root) as http:
        assert (await http.get("/healthz")).status_code == 200
        during = {sig: signal.getsignal(sig) for sig in before}
    after = {sig: signal.getsignal(sig) for sig in before}
    assert during == before
    assert after == before
