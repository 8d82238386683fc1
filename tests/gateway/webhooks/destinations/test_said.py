"""What a broker's client says went wrong reaches the attempt log and the save's refusal (5353)
without any secret of the destination: neither a password in any of its URLs, as written or
decoded, nor a secret field (an access key's secret), whichever the client quotes; nor does a
sealed destination that no longer fits its type."""

import json
from typing import Any, ClassVar

import pytest
from pydantic import ConfigDict

from gateway.values.model import Model
from gateway.webhooks.destinations.base import Broker, DestinationError, Message
from gateway.webhooks.destinations.clients import Clients, probe
from gateway.webhooks.destinations.saving import context, opened
from keys import Sealer


class _Config(Model):
    model_config = ConfigDict(extra="forbid")

    queue_url: str
    endpoint_url: str
    secret_access_key: str


class _Quoting(Broker):
    """A client that quotes everything it was given when it fails."""

    name = "quoting"
    config = _Config
    schemes: ClassVar[dict[str, int]] = {"http": 80}
    secrets = frozenset({"secret_access_key"})

    def address(self, config: Any) -> str:
        url: str = config.endpoint_url
        return url

    async def open(self, config: Any, reach: Any) -> Any:
        return config

    async def publish(self, client: Any, config: Any, message: Message) -> str:
        raise RuntimeError(f"refused {config.model_dump()} at {url_of(config)}")

    async def probe(self, client: Any, config: Any) -> None:
        raise RuntimeError(f"refused {config.model_dump()}")

    async def close(self, client: Any) -> None:
        return None


def url_of(config: Any) -> str:
    return str(config.queue_url)


CONFIG = _Config(
    queue_url="http://u:queue-pa%24s@127.0.0.1/q",
    endpoint_url="http://u:endpoint-pass@127.0.0.1",
    secret_access_key="wJalrXUtnFEMI-secret",
)
SECRETS = ("queue-pa%24s", "queue-pa$s", "endpoint-pass", "wJalrXUtnFEMI-secret")


async def test_a_clients_error_quotes_no_secret_of_the_destination() -> None:
    kind = _Quoting()
    with pytest.raises(DestinationError) as refused:
        await probe(kind, CONFIG, allow_loopback=True, seconds=5)
    clients = Clients(allow_loopback=True)
    with pytest.raises(DestinationError) as failed:
        await clients.publish(kind, "k", CONFIG, Message("msg_1", b"{}", {}), 5)
    for said in (str(refused.value), str(failed.value)):
        assert "refused" in said
        for secret in SECRETS:
            assert secret not in said, said


def test_a_sealed_destination_that_no_longer_fits_its_type_is_an_attempts_error() -> None:
    # Saved before its type's rules changed: the worker's attempt says so, final, and never
    # quotes the destination (a validation error quotes its input: the URL with its password).
    sealer = Sealer(b"0123456789abcdef0123456789abcdef")
    saved = {"url": "redis://u:hunter2-pass@127.0.0.1:6379/0", "stream": "s", "gone": 1}
    sealed = sealer.seal(json.dumps(saved), context=context("we_1"))
    with pytest.raises(DestinationError) as failed:
        opened(sealer, "we_1", "redis_stream", sealed)
    assert failed.value.final
    assert "hunter2" not in str(failed.value) and "gone" in str(failed.value)
