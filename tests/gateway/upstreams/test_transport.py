"""The upstream transport (``gateway.upstreams.outbound``, the checked transport webhooks use):
every connection goes to an address the webhook URL check allows, at the moment of connecting."""

import httpx
import pytest

from gateway.upstreams.outbound import checked_transport
from gateway.values.settings import Settings
from tests.fixtures.core import make_settings
from tests.fixtures.upstreams import NewApiStandIn, serve_standin

_SETTINGS: Settings = make_settings("sqlite+aiosqlite://", "redis://127.0.0.1:1")


async def test_loopback_is_refused_unless_allowed() -> None:
    standin = NewApiStandIn()
    async with serve_standin(standin.app()) as served:
        url = f"{served.root}/api/redemption/search"
        async with httpx.AsyncClient(
            transport=checked_transport(_SETTINGS, allow_loopback=False)
        ) as strict:
            with pytest.raises(httpx.ConnectError, match="blocked"):
                await strict.get(url)
        async with httpx.AsyncClient(
            transport=checked_transport(_SETTINGS, allow_loopback=True)
        ) as loose:
            answer = await loose.get(url)
    assert answer.status_code == 401  # it got there: the stand-in wants credentials
    assert standin.faults.calls == 1


async def test_a_name_is_resolved_and_judged_too() -> None:
    async with httpx.AsyncClient(
        transport=checked_transport(_SETTINGS, allow_loopback=False)
    ) as strict:
        with pytest.raises(httpx.ConnectError, match="blocked"):
            await strict.get("http://localhost:9/")
