"""Post/redirect/get on the pages that show a secret once: reloading a new key's page or an
endpoint's secret page makes nothing a second time and shows the secret no more; the page is
bound to the session that made it."""

import re

import pytest
from sqlalchemy import Column, func, select
from starlette.types import ASGIApp

from gateway.store.engine import Database
from gateway.store.models import ApiKeyRow, WebhookEndpoint, table_of
from gateway.values.settings import Settings
from tests.fixtures.core import STALLED_REDIS, running_app
from tests.fixtures.dashboard import SignUp, dashboard_client, sign_up_on
from tests.fixtures.redis import RedisServer, stalled
from tests.fixtures.webhooks import Receiver

_K = table_of(ApiKeyRow)
_E = table_of(WebhookEndpoint)
_RAW_KEY = re.compile(r"ak_staging_[0-9A-Za-z]{32}")
_SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")


@pytest.fixture
def app(hook_app: ASGIApp) -> ASGIApp:
    """The dashboard of an app whose staging endpoints may point at this machine."""
    return hook_app


async def _count(db: Database, column: Column[str], value: str) -> int:
    async with db.read() as conn:
        found = await conn.execute(select(func.count()).where(column == value))
    return int(found.scalar_one())


async def test_a_new_key_is_shown_once_and_reloading_makes_no_second_key(
    sign_up: SignUp, db: Database
) -> None:
    account = await sign_up()
    posted = await account.post("/keys", {"name": "once", "scopes": "topup:send"}, page="/keys")
    assert posted.status_code == 303
    where = posted.headers["location"].removeprefix("/dashboard")
    assert where.startswith("/keys/created?t=")
    shown = await account.client.get(where)
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    [key] = set(_RAW_KEY.findall(shown.text))

    again = await account.client.get(where)  # a reload
    assert again.status_code == 303 and again.headers["location"].endswith("notice=shown")
    listing = await account.client.get(again.headers["location"].removeprefix("/dashboard"))
    assert key not in listing.text and "shown once" in listing.text
    assert await _count(db, _K.c.name, "once") == 1


async def test_an_endpoint_secret_is_shown_once_on_create_and_rotate(
    sign_up: SignUp, receiver: Receiver, db: Database
) -> None:
    account = await sign_up()
    url = receiver.url + "/reveal"
    posted = await account.post("/webhooks/endpoints", {"url": url}, page="/webhooks")
    assert posted.status_code == 303
    where = posted.headers["location"].removeprefix("/dashboard")
    shown = await account.client.get(where)
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    secret = _SECRET.search(shown.text)
    assert secret is not None
    endpoint = re.search(r"/dashboard/webhooks/endpoints/(we_[0-9a-z]+)", shown.text)
    assert endpoint is not None

    again = await account.client.get(where)
    assert again.status_code == 303 and again.headers["location"].endswith("notice=shown")
    assert (
        secret.group()
        not in (await account.client.get(again.headers["location"].removeprefix("/dashboard"))).text
    )
    assert await _count(db, _E.c.url, url) == 1

    page = f"/webhooks/endpoints/{endpoint.group(1)}"
    rotated = await account.post(page + "/rotate", {"overlap_seconds": "60"}, page=page)
    assert rotated.status_code == 303
    where = rotated.headers["location"].removeprefix("/dashboard")
    first = await account.client.get(where)
    new = _SECRET.search(first.text)
    assert new is not None and new.group() != secret.group()
    reloaded = await account.client.get(where)
    assert reloaded.status_code == 303 and new.group() not in reloaded.text


async def test_the_page_belongs_to_the_session_that_made_it(sign_up: SignUp) -> None:
    owner = await sign_up()
    posted = await owner.post("/keys", {"name": "mine", "scopes": "topup:send"}, page="/keys")
    where = posted.headers["location"].removeprefix("/dashboard")
    stranger = await sign_up()  # another signed-in session, on a client of its own
    taken = await stranger.client.get(where)
    assert taken.status_code == 303 and not _RAW_KEY.search(taken.text)
    # The stranger's try did not use it up: the owner still sees the key, once.
    assert _RAW_KEY.search((await owner.client.get(where)).text)


async def test_with_redis_answering_nothing_the_post_shows_the_key_itself(
    settings: Settings, private_redis: RedisServer, db: Database
) -> None:
    """Nothing to stash it in (``reveal.stash`` waits ``ANSWER_WITHIN`` at most): the POST
    answers with the page, and the key is still made once."""
    chosen = settings.model_copy(update={"redis_url": private_redis.url, **STALLED_REDIS})
    async with running_app(chosen) as app, dashboard_client(app) as client:
        account = await sign_up_on(client)
        with stalled(private_redis):
            posted = await account.post(
                "/keys", {"name": "inline", "scopes": "topup:send"}, page="/keys"
            )
    assert posted.status_code == 201 and posted.headers["cache-control"] == "no-store"
    assert len(set(_RAW_KEY.findall(posted.text))) == 1
    assert await _count(db, _K.c.name, "inline") == 1
