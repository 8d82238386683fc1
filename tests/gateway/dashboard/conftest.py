"""The dashboard's fixture: ``sign_up`` makes a merchant and its owner through the real forms
(the clients and helpers are in ``tests/fixtures/dashboard.py``)."""

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.types import ASGIApp

from gateway.accounts import passwords
from tests.fixtures.dashboard import (
    PASSWORD,
    Account,
    CountingHasher,
    SignUp,
    dashboard_client,
    sign_up_on,
)


@pytest.fixture
async def sign_up(app: ASGIApp) -> AsyncIterator[SignUp]:
    """``await sign_up()``: a new merchant and its owner, signed in on a client of their own
    (``language``: its browser's)."""
    clients: list[httpx.AsyncClient] = []

    async def make(*, password: str = PASSWORD, language: str | None = None) -> Account:
        client = dashboard_client(app)
        if language is not None:  # a browser set to it, signing up in it
            client.headers["Accept-Language"] = language
        clients.append(client)
        return await sign_up_on(client, password=password)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def hasher(monkeypatch: pytest.MonkeyPatch) -> CountingHasher:
    """The process's password hasher, counting (``CountingHasher``) for this test."""
    counting = CountingHasher()
    monkeypatch.setattr(passwords, "_HASHER", counting)
    return counting
