"""The gateway as ``aitopup serve`` runs it: uvicorn with ``server_options``, on a real socket."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

from gateway.app import create_app
from gateway.cli import server_options
from gateway.settings import Settings
from tests.fixtures.core import free_port, started_server

__all__ = ["serve"]


@asynccontextmanager
async def serve(settings: Settings, *, within: float = 10.0) -> AsyncIterator[uvicorn.Server]:
    """The server, started in this event loop on ``127.0.0.1:server.config.port``."""
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=free_port(), **server_options(settings)
    )
    async with started_server(config, within=within) as server:
        yield server
