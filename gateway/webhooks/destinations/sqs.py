"""``sqs``: each delivery one ``SendMessage`` to the merchant's queue, the webhook body as the
message body and the headers as message attributes (the Standard Webhooks ones first: SQS takes
ten at most); the ``MessageId`` is the acknowledgement. A FIFO queue (``.fifo``) gets one
message group, so it keeps the order it is sent in, and the ``webhook-id`` and timestamp as
the deduplication id, so a retry within SQS's five minutes is not taken twice."""

from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from ...values.model import Model
from .base import Broker, Message, Reach

__all__ = ["SQS", "SqsConfig", "aws_client", "aws_unreachable"]

# SQS's own bound on a message's attributes.
MAX_ATTRIBUTES = 10
_REGION = r"^[a-z]{2}(-[a-z]+)+-\d$"


class SqsConfig(Model):
    model_config = ConfigDict(extra="forbid")

    queue_url: str = Field(max_length=2048, description="https://sqs.REGION.amazonaws.com/…")
    region: str = Field(pattern=_REGION, max_length=40)
    access_key_id: str = Field(min_length=1, max_length=128)
    secret_access_key: str = Field(min_length=1, max_length=256)
    endpoint_url: str | None = Field(default=None, max_length=2048)


async def aws_client(service: str, config: Any, reach: Reach) -> Any:
    """An aiobotocore client of ``service`` at ``reach.by_name``'s origin, entered, with the
    destination's own keys and nothing of the machine's (no environment, no profile). The URL
    keeps its name (AWS's signature covers the Host, and TLS verifies the name); every
    connection goes only to an address judged then, by aiohttp's ``resolver`` (``Judged``)."""
    from aiobotocore.config import AioConfig  # only a worker with such an endpoint loads it
    from aiobotocore.session import AioSession

    from .resolver import Judged

    url = "/".join(reach.by_name.split("/", 3)[:3])

    session = AioSession()
    made = session.create_client(
        service,
        region_name=config.region,
        endpoint_url=url,
        aws_access_key_id=config.access_key_id,
        aws_secret_access_key=config.secret_access_key,
        config=AioConfig(
            connect_timeout=5,
            read_timeout=10,
            # Tried once: the worker's schedule is the only retry, and logs each try. A resend
            # under it (botocore's default) would put a message the broker took on it twice.
            retries={"total_max_attempts": 1},
            connector_args={"resolver": Judged(allow_loopback=reach.allow_loopback)},
        ),
    )
    return await made.__aenter__()


class Sqs(Broker):
    name = "sqs"
    config = SqsConfig
    schemes: ClassVar[dict[str, int]] = {"https": 443, "http": 80}
    secrets = frozenset({"secret_access_key"})

    def address(self, config: Any) -> str:
        url: str = config.endpoint_url or config.queue_url
        return url

    async def open(self, config: Any, reach: Reach) -> Any:
        return await aws_client("sqs", config, reach)

    def unreachable(self, exc: BaseException) -> bool:
        return aws_unreachable(exc)

    async def publish(self, client: Any, config: Any, message: Message) -> str:
        attributes = {
            name: {"DataType": "String", "StringValue": value}
            for name, value in sorted(message.headers.items(), key=_standard_first)[:MAX_ATTRIBUTES]
        }
        extra: dict[str, str] = {}
        if config.queue_url.endswith(".fifo"):
            stamp = message.headers.get("webhook-timestamp", "")
            extra = {"MessageGroupId": "aitopup", "MessageDeduplicationId": f"{message.id}-{stamp}"}
        sent = await client.send_message(
            QueueUrl=config.queue_url,
            MessageBody=message.body.decode(),
            MessageAttributes=attributes,
            **extra,
        )
        return str(sent["MessageId"])

    async def probe(self, client: Any, config: Any) -> None:
        await client.get_queue_attributes(QueueUrl=config.queue_url, AttributeNames=["QueueArn"])

    async def close(self, client: Any) -> None:
        await client.__aexit__(None, None, None)


def aws_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` is botocore's failure to connect (a judged address refused included)."""
    from botocore.exceptions import ConnectionError as Unconnected  # type: ignore[import-untyped]

    return isinstance(exc, OSError | TimeoutError | Unconnected)


def _standard_first(item: tuple[str, str]) -> tuple[int, str]:
    name = item[0]
    return (0 if name.startswith("webhook-") else 1 if name.startswith("x-aitopup") else 2, name)


SQS = Sqs()
