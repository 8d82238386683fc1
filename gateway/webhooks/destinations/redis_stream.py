"""``redis_stream``: each delivery an entry ``XADD``ed to the merchant's stream, its fields the
webhook body (``body``) and each header by its name; the entry's id is the acknowledgement. The
stream is trimmed to about ``max_len`` entries as it is added to (``MAXLEN ~``), so a consumer
that stops reading cannot grow it without bound."""

from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from ...values.model import Model
from .base import Broker, DestinationError, Message, Reach

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

    async def open(self, config: Any, reach: Reach) -> Any:
        from redis.asyncio import ConnectionPool, Redis  # only a worker with such an endpoint
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        url, kind = reach.url, dict[str, Any]()
        if reach.tls is not None:
            # rediss: at the judged address, verified by name. The URL is read as redis://,
            # whose scheme does not set redis-py's own TLS connection over the one given.
            url = "redis" + url[len("rediss") :]
            kind = {"connection_class": _named_connection(), "named": reach.tls}
        # Tried once, whatever redis-py's default: the worker's schedule is the only retry, and
        # an XADD resent after the server took it would add the event twice.
        pool = ConnectionPool.from_url(
            url, socket_connect_timeout=5.0, retry=Retry(NoBackoff(), 0), **kind
        )
        client = Redis.from_pool(pool)  # closed with the client
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

    def unreachable(self, exc: BaseException) -> bool:
        from redis.exceptions import ConnectionError as Unconnected
        from redis.exceptions import TimeoutError as Late

        return isinstance(exc, OSError | TimeoutError | Unconnected | Late)

    async def close(self, client: Any) -> None:
        await client.aclose()


def _named_connection() -> type:
    """redis-py's TLS connection, opened with the context given as ``named`` (``reach.named``):
    it verifies the certificate against the name while connecting to the judged address. Its
    own context (``ssl_context``, built from ``ssl_*`` options) is replaced by that one."""
    from redis.asyncio.connection import SSLConnection

    class Named(SSLConnection):
        def __init__(self, *, named: Any, **kwargs: Any) -> None:
            super().__init__(ssl_cert_reqs="required", ssl_check_hostname=True, **kwargs)
            self.ssl_context.context = named

    return Named


REDIS_STREAM = RedisStream()
