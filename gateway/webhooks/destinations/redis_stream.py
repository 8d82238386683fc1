"""``redis_stream``: each delivery an entry ``XADD``ed to the merchant's stream, its fields the
webhook body (``body``) and each header by its name; the entry's id is the acknowledgement. The
stream is trimmed to about ``max_len`` entries as it is added to (``MAXLEN ~``), so a consumer
that stops reading cannot grow it without bound."""

from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from ...values.model import Model
from .base import Broker, DestinationError, Message

__all__ = ["REDIS_STREAM", "RedisStreamConfig"]

DEFAULT_MAX_LEN = 100_000


class RedisStreamConfig(Model):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, description="redis://[user:password@]host:6379/0")
    stream: str = Field(min_length=1, max_length=256, description="The stream's key.")
    max_len: int | None = Field(
        default=None,
        ge=1,
        le=10_000_000,
        description=f"About this many entries kept; absent: {DEFAULT_MAX_LEN:,}.",
    )


class RedisStream(Broker):
    name = "redis_stream"
    config = RedisStreamConfig
    schemes: ClassVar[dict[str, int]] = {"redis": 6379, "rediss": 6379}

    async def open(self, config: Any, url: str) -> Any:
        from redis.asyncio import Redis  # only a worker with such an endpoint loads it here

        # rediss is connected to by name (``clients``): its certificate must name the host,
        # which redis-py before 6 does not check unless asked.
        tls = {"ssl_check_hostname": True} if url.lower().startswith("rediss:") else {}
        client = Redis.from_url(url, socket_connect_timeout=5.0, retry_on_timeout=False, **tls)
        await client.ping()
        return client

    async def publish(self, client: Any, config: Any, message: Message) -> str:
        fields: dict[str, bytes | str] = {"body": message.body, **message.headers}
        length = config.max_len or DEFAULT_MAX_LEN
        added = await client.xadd(config.stream, fields, maxlen=length, approximate=True)
        return added.decode() if isinstance(added, bytes) else str(added)

    async def probe(self, client: Any, config: Any) -> None:
        kind = await client.type(config.stream)
        kind = kind.decode() if isinstance(kind, bytes) else str(kind)
        if kind not in ("stream", "none"):
            raise DestinationError(f"key {config.stream!r} holds a {kind}, not a stream")

    async def close(self, client: Any) -> None:
        await client.aclose()


REDIS_STREAM = RedisStream()
