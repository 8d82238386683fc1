"""The MCP door under test: the app, MCP door included, on a real uvicorn socket. The clients and
what tests read back are in ``tests/fixtures/mcp.py``."""

from collections.abc import AsyncIterator

import pytest

from gateway.values.settings import Settings
from tests.fixtures.core import live_server


@pytest.fixture(scope="session")
async def mcp_root(hook_settings: Settings) -> AsyncIterator[str]:
    """The app, MCP door included, on 127.0.0.1; staging may deliver to a local receiver."""
    async with live_server(hook_settings) as root:
        yield root
