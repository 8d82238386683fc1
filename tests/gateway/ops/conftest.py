"""Operations: the app as production runs it, seen from the server root."""

from collections.abc import AsyncIterator

import httpx
import pytest

from gateway.values.settings import Settings
from tests.fixtures.core import asgi_client, running_app


@pytest.fixture
def ops_settings(settings: Settings) -> Settings:
    """The session's settings with the access log and metrics on, as in production."""
    return settings.model_copy(update={"access_log": True, "metrics": True})


@pytest.fixture
async def ops_client(ops_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a fresh app at the server root (not the API prefix)."""
    async with (
        running_app(ops_settings) as running,
        asgi_client(running, "http://gateway.test") as http,
    ):
        yield http
