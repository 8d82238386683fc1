"""``pubsub``: each delivery one message published to the merchant's Google Cloud Pub/Sub topic,
the webhook body as its data and the headers as its attributes; the message id Pub/Sub answers
is the acknowledgement. ``credentials`` is the service account's key file (JSON), with which
the client gets its own access tokens; ``endpoint_url`` points at an emulator (or this
gateway's stand-in, ``gateway.standins.pubsub``), to which, as Google's own clients do for an
emulator, no token is sent.

The key file is a service account's and nothing else, and it is handed to the client rebuilt
from its account, its key and Google's own token endpoint alone (``key_file``). The client
(gcloud-aio-auth, as Google's ADC does) takes any credential file: one naming a token endpoint
of its own is posted to there, unchecked; an ``external_account`` reads the subject token it
sends from a URL, a file or an environment variable of the machine (the gateway's own secret,
sent to an address of the merchant's choosing); an empty one asks the machine's metadata server
for the operator's identity. None of that is the merchant's to choose."""

import io
import json
import ssl
from typing import Any, ClassVar

from pydantic import ConfigDict, Field, field_validator

from ...values import outside_json
from ...values.model import Model
from .base import Broker, DestinationError, Message, Reach

__all__ = ["GOOGLE_TOKEN_URI", "PUBSUB", "PubSubConfig", "key_file"]

_TOPIC = r"^projects/[a-z][a-z0-9-]+/topics/[A-Za-z][A-Za-z0-9._~+%-]+$"
# Where a service account's signed assertion is exchanged for an access token: Google's.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 (an address)
# What of a service account's key file the client reads, and nothing more is passed on.
_KEPT = ("client_email", "private_key", "private_key_id", "project_id")
_NOT_A_KEY = (
    "a service account's key file (JSON, type service_account, with client_email and "
    "private_key, its token_uri Google's if any); no other kind of credential is taken"
)


def key_file(credentials: str) -> str:
    """``credentials`` as the client is given them: the service account's key file rebuilt
    from its account and key, exchanged at Google's token endpoint; ``ValueError`` for any
    other credential, in words that never repeat it."""
    try:
        found = outside_json.loads(credentials)
    except (ValueError, UnicodeError):
        raise ValueError(_NOT_A_KEY) from None
    if not isinstance(found, dict) or found.get("type") != "service_account":
        raise ValueError(_NOT_A_KEY)
    if found.get("token_uri", GOOGLE_TOKEN_URI) != GOOGLE_TOKEN_URI:
        raise ValueError(f"{_NOT_A_KEY}: its token_uri is not {GOOGLE_TOKEN_URI}")
    if not all(isinstance(found.get(name), str) for name in ("client_email", "private_key")):
        raise ValueError(_NOT_A_KEY)
    kept = {name: found[name] for name in _KEPT if isinstance(found.get(name), str)}
    return json.dumps({"type": "service_account", **kept, "token_uri": GOOGLE_TOKEN_URI})


class PubSubConfig(Model):
    model_config = ConfigDict(extra="forbid")

    topic: str = Field(pattern=_TOPIC, max_length=300, description="projects/PROJECT/topics/TOPIC")
    credentials: str | None = Field(
        default=None, max_length=10_000, description="The service account's key file (JSON)."
    )
    endpoint_url: str | None = Field(default=None, max_length=2048)

    @field_validator("credentials")
    @classmethod
    def _service_account(cls, value: str | None) -> str | None:
        if value is not None:
            key_file(value)
        return value


class PubSub(Broker):
    name = "pubsub"
    config = PubSubConfig
    schemes: ClassVar[dict[str, int]] = {"https": 443, "http": 80}
    secrets = frozenset({"credentials"})

    def address(self, config: Any) -> str:
        url: str = config.endpoint_url or "https://pubsub.googleapis.com"
        return url

    async def open(self, config: Any, reach: Reach) -> Any:
        from gcloud.aio.pubsub import PublisherClient  # only a worker with such an endpoint

        given = None
        if not config.endpoint_url:
            if not config.credentials:
                raise DestinationError("credentials (a service account's key file) are needed")
            try:  # a destination saved before the key file was judged is judged here too
                given = key_file(config.credentials)
            except ValueError as exc:
                raise DestinationError(f"credentials refused: {exc}", final=True) from None
        session = _session(reach)
        if given is None:
            api = f"{reach.by_name.rstrip('/')}/v1"
            return PublisherClient(api_root=api, session=session), session
        return PublisherClient(service_file=io.StringIO(given), session=session), session

    async def publish(self, client: Any, config: Any, message: Message) -> str:
        from gcloud.aio.pubsub import PubsubMessage

        client, _ = client
        sent = await client.publish(config.topic, [PubsubMessage(message.body, **message.headers)])
        return str(sent["messageIds"][0])

    async def probe(self, client: Any, config: Any) -> None:
        project = config.topic.split("/topics/")[0]
        client, _ = client
        listed = await client.list_topics(project)
        if config.topic not in {topic.get("name") for topic in listed.get("topics", [])}:
            raise DestinationError(f"no topic {config.topic}")

    def unreachable(self, exc: BaseException) -> bool:
        return isinstance(exc, OSError | TimeoutError)  # aiohttp's failed connects are OSErrors

    async def close(self, client: Any) -> None:
        publisher, session = client
        try:
            await publisher.close()
        finally:
            await session.close()  # given to it, so not closed by it


def _session(reach: Reach) -> Any:
    """The client's HTTP session (its token's too): every connection only to a judged address
    (aiohttp's ``resolver``), over TLS verified against the URL's name, an emulator's as
    Google's (the client itself would not verify an emulator's)."""
    import aiohttp

    from .resolver import Judged

    # A verifying context of its own (the system's authorities, as the other brokers' clients
    # verify with), not aiohttp's, made once a process.
    verifying = ssl.create_default_context()
    judged = Judged(allow_loopback=reach.allow_loopback)
    connector = aiohttp.TCPConnector(resolver=judged, ssl=verifying)
    return aiohttp.ClientSession(connector=connector)


PUBSUB = PubSub()
