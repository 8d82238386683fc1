"""The billing tests' clients of the session's gateway with Stripe stood in (``stood_in_url``,
``tests/fixtures/stripe.py``): its public API (``api``) and its admin API (``admin``). Here and
not beside ``stood_in_url``, whose fixtures every test sees: a test of another gateway (an Epay
stand-in's, the channels' limits) defines its own ``api`` in its module, which wins over these."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.fixtures.billing import ADMIN_TOKEN
from tests.fixtures.core import local_client


@pytest.fixture
async def api(stood_in_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with local_client(base_url=f"{stood_in_url}/api/public/v1", timeout=30) as http:
        yield http


@pytest.fixture
async def admin(stood_in_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with local_client(
        base_url=f"{stood_in_url}/api/admin/v1",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    ) as http:
        yield http
