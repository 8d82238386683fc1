"""Dashboard clients: a browser-like client of the app (cookies kept, redirects not followed)
and a helper that signs a fresh merchant up through the real forms."""

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from starlette.types import ASGIApp

from tests.fixtures.core import asgi_client

__all__ = ["Account", "SignUp", "csrf_of", "dashboard_client", "sign_in_on", "sign_up_on"]

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "correct horse battery staple"


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token on the page"
    return found.group(1)


def dashboard_client(app: ASGIApp) -> httpx.AsyncClient:
    return asgi_client(app, base_url="http://gateway.test/dashboard", follow_redirects=False)


@dataclass
class Account:
    client: httpx.AsyncClient
    email: str
    password: str
    merchant_name: str

    async def csrf(self, path: str = "/") -> str:
        reply = await self.client.get(path)
        assert reply.status_code == 200, reply.text
        return csrf_of(reply.text)

    async def post(self, path: str, data: dict[str, str], *, page: str = "/") -> httpx.Response:
        return await self.client.post(path, data={**data, "csrf_token": await self.csrf(page)})

    async def shown_once(
        self, path: str, data: dict[str, str], *, page: str = "/"
    ) -> httpx.Response:
        """A form that makes a secret (a key, an endpoint's signing secret): its POST answers
        303 to the page that shows the secret once, fetched here."""
        posted = await self.post(path, data, page=page)
        assert posted.status_code == 303, posted.text
        return await self.client.get(posted.headers["location"].removeprefix("/dashboard"))


SignUp = Callable[..., Awaitable[Account]]


async def sign_up_on(client: httpx.AsyncClient, *, password: str = PASSWORD) -> Account:
    """A new merchant and its owner, signed up through the form on ``client`` (a dashboard
    client: it keeps the session's cookie), then signed in."""
    tag = uuid.uuid4().hex[:12]
    email, name = f"owner-{tag}@example.com", f"Shop {tag}"
    form = await client.get("/sign-up")
    assert form.status_code == 200, form.text
    reply = await client.post(
        "/sign-up",
        data={
            "csrf_token": csrf_of(form.text),
            "email": email,
            "password": password,
            "merchant_name": name,
        },
    )
    assert reply.status_code == 303, reply.text
    assert reply.headers["location"] == "/dashboard/sign-in?signed-up"
    await sign_in_on(client, email, password)
    return Account(client, email, password, name)


async def sign_in_on(client: httpx.AsyncClient, email: str, password: str) -> None:
    """Sign in through the form on ``client``, which keeps the new session's cookie."""
    form = await client.get("/sign-in")
    assert form.status_code == 200, form.text
    reply = await client.post(
        "/sign-in",
        data={"csrf_token": csrf_of(form.text), "email": email, "password": password},
    )
    assert reply.status_code == 303, reply.text
    assert reply.headers["location"] == "/dashboard/"


@pytest.fixture
async def sign_up(app: ASGIApp) -> AsyncIterator[SignUp]:
    """``await sign_up()``: a new merchant and its owner, signed in on a client of their own."""
    clients: list[httpx.AsyncClient] = []

    async def make(*, password: str = PASSWORD) -> Account:
        client = dashboard_client(app)
        clients.append(client)
        return await sign_up_on(client, password=password)

    yield make
    for client in clients:
        await client.aclose()
