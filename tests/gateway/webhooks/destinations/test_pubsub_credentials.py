"""A Pub/Sub destination's credentials are a service account's key file and nothing else: a
credential file that names where its token is fetched, or where a subject token is read from (a
URL, a file, a variable of the gateway's own environment), or none at all (the machine's
metadata server), is refused when saved, and nothing is sent anywhere; a key file is handed to
the client rebuilt around Google's token endpoint."""

import json
from typing import Any

import httpx
import pytest

from gateway.store.engine import Database
from gateway.webhooks.destinations.base import DestinationError, Reach
from gateway.webhooks.destinations.pubsub import GOOGLE_TOKEN_URI, PUBSUB, PubSubConfig, key_file
from tests.fixtures.destinations import endpoint_count, post_endpoint
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.webhooks import Receiver

CANARY = "AITOPUP_TEST_CANARY"
TOPIC = "projects/aitopup-test/topics/orders"
KEY = {"type": "service_account", "client_email": "a@p.iam.gserviceaccount.com", "private_key": "k"}


def _credentials(receiver: Receiver) -> dict[str, dict[str, Any]]:
    """Credential files that would make the client send to ``receiver``, or ask the machine."""
    return {
        "external account reading the gateway's environment": {
            "type": "external_account",
            "audience": "//iam.googleapis.com/x",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": receiver.url,
            "credential_source": {"type": "environment", "environment_id": CANARY},
        },
        "external account reading a file": {
            "type": "external_account",
            "audience": "//iam.googleapis.com/x",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": receiver.url,
            "credential_source": {"type": "file", "file": "/etc/hostname"},
        },
        "authorized user posting to its own token endpoint": {
            "type": "authorized_user",
            "client_id": "c",
            "client_secret": "s",
            "refresh_token": "r",
            "token_uri": receiver.url,
        },
        "service account posting to its own token endpoint": {**KEY, "token_uri": receiver.url},
        "none: the machine's metadata server": {},
    }


async def test_credentials_other_than_a_service_accounts_key_are_refused_and_send_nothing(
    hook_client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CANARY, "the-gateway-secret")
    merchant = await make_merchant()
    for case, given in _credentials(receiver).items():
        destination = {"topic": TOPIC, "credentials": json.dumps(given)}
        refused = await post_endpoint(
            hook_client, merchant, {"type": "pubsub", "destination": destination}
        )
        assert refused.json()["code"] == 5351, (case, refused.text)
        assert refused.json()["data"]["field"] == "destination.credentials", case
        assert receiver.url not in refused.text, case
    assert receiver.received == []
    assert await endpoint_count(db, merchant.merchant_id) == 0


def test_a_key_file_is_rebuilt_around_googles_token_endpoint() -> None:
    given = {**KEY, "private_key_id": "id", "project_id": "p", "universe_domain": "x"}
    rebuilt = json.loads(key_file(json.dumps(given)))
    assert rebuilt == {
        **KEY,
        "private_key_id": "id",
        "project_id": "p",
        "token_uri": GOOGLE_TOKEN_URI,
    }
    explicit = json.dumps({**KEY, "token_uri": GOOGLE_TOKEN_URI})
    assert PubSubConfig(topic=TOPIC, credentials=explicit).credentials == explicit
    for bad in ("not json", "[]", json.dumps({**KEY, "private_key": 1})):
        with pytest.raises(ValueError, match="service account"):
            key_file(bad)


async def test_a_destination_saved_before_is_refused_when_opened_and_sends_nothing(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One saved before the key file was judged (as the worker reads it, its model unjudged):
    opening it refuses, for good, before the client asks anything of anyone."""
    monkeypatch.setenv(CANARY, "the-gateway-secret")
    given = _credentials(receiver)["external account reading the gateway's environment"]
    config = PubSubConfig.model_construct(
        topic=TOPIC, credentials=json.dumps(given), endpoint_url=None
    )
    refused: BaseException | None = None
    try:
        google = "https://pubsub.googleapis.com"
        reach = Reach(
            url=google, by_name=google, name="pubsub.googleapis.com", tls=None, allow_loopback=False
        )
        client = await PUBSUB.open(config, reach)
        try:
            await PUBSUB.probe(client, config)
        finally:
            await PUBSUB.close(client)
    except Exception as exc:  # the old client went on to Google, which this machine lacks
        refused = exc
    assert [r.body for r in receiver.received] == []
    assert isinstance(refused, DestinationError) and refused.final, refused
