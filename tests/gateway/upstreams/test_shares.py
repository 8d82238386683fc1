"""Each merchant's upstream calls hold at most a share of an environment's outbound pool: one
merchant's upstream that never answers holds that share, and another merchant's calls go through
at once beside it."""

import asyncio

import pytest

from gateway.upstreams import upstream
from gateway.upstreams.clients import UpstreamError
from gateway.upstreams.outbound import MAX_CONNECTIONS, open_upstreams
from gateway.upstreams.providers import newapi
from tests.fixtures.core import make_settings, wait_until
from tests.fixtures.upstreams import (
    NEWAPI_ADMIN_ID,
    NEWAPI_ADMIN_TOKEN,
    Hanging,
    NewApiStandIn,
    serve_raw,
    serve_standin,
)

_SETTINGS = make_settings(
    "sqlite+aiosqlite://",
    "redis://127.0.0.1:1",
    allow_private_webhook_urls=True,
    fulfilment_timeout_seconds=3,
)


def _upstream(root: str, merchant_id: str) -> upstream.Upstream:
    return upstream.Upstream(
        "newapi", root, str(NEWAPI_ADMIN_ID), NEWAPI_ADMIN_TOKEN, None, merchant_id
    )


async def test_a_merchants_hanging_upstream_holds_its_share_and_no_more() -> None:
    standin, far = NewApiStandIn(), Hanging()
    upstreams = open_upstreams(_SETTINGS)
    http = upstreams.for_env("staging")
    try:
        async with serve_raw(far) as stuck, serve_standin(standin.app()) as answering:
            slow = _upstream(stuck.root, "mer_slow")
            # More calls than the whole pool, all to an upstream that never answers.
            held = [
                asyncio.ensure_future(newapi.client(slow, http).check())
                for _ in range(MAX_CONNECTIONS + 20)
            ]
            share = _SETTINGS.fulfilment_merchant_connections(MAX_CONNECTIONS)

            async def holding() -> bool:
                return far.taken >= share

            await wait_until(holding)
            other = newapi.client(_upstream(answering.root, "mer_other"), http)
            async with asyncio.timeout(1.5):  # well inside the hanging calls' 3 s
                await other.check()
            assert standin.faults.calls == 1
            assert not any(call.done() for call in held)  # still held, every one of them
            failed = await asyncio.gather(*held, return_exceptions=True)
    finally:
        await upstreams.aclose()
    assert all(isinstance(e, UpstreamError) and e.transient for e in failed), failed
    said = {(e.outcome, e.detail) for e in failed if isinstance(e, UpstreamError)}
    assert said == {
        ("no_answer", ""),  # the calls that held a slot, until their timeout
        ("no_answer", "this merchant's share of the pool is in use"),  # the ones past the share
    }


@pytest.mark.parametrize(("setting", "share"), [(None, 25), (10, 10), (500, 100)])
def test_the_share_is_a_quarter_of_the_pool_unless_set(setting: int | None, share: int) -> None:
    chosen = _SETTINGS.model_copy(update={"fulfilment_max_connections_per_merchant": setting})
    assert chosen.fulfilment_merchant_connections(MAX_CONNECTIONS) == share
