"""``eventbridge``: each delivery one ``PutEvents`` entry on the merchant's bus, its source the
destination's, its detail-type the event's type, and its detail ``{"headers", "body"}``: the
Standard Webhooks headers and the webhook body as the exact text they sign, which a rule can
match on and a consumer verifies as it is. The entry's ``EventId`` is the acknowledgement; an
entry the bus refused (``FailedEntryCount``) is not."""

import json
from typing import Any, ClassVar

from pydantic import ConfigDict, Field

from ...values.model import Model
from .base import Broker, DestinationError, Message, Reach
from .sqs import aws_client, aws_unreachable

__all__ = ["EVENTBRIDGE", "EventBridgeConfig"]


class EventBridgeConfig(Model):
    model_config = ConfigDict(extra="forbid")

    bus: str = Field(min_length=1, max_length=1600, description="The event bus's name or ARN.")
    source: str = Field(min_length=1, max_length=256, pattern=r"^[^\s]+$")
    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d$", max_length=40)
    access_key_id: str = Field(min_length=1, max_length=128)
    secret_access_key: str = Field(min_length=1, max_length=256)
    endpoint_url: str | None = Field(default=None, max_length=2048)


class EventBridge(Broker):
    name = "eventbridge"
    config = EventBridgeConfig
    schemes: ClassVar[dict[str, int]] = {"https": 443, "http": 80}
    secrets = frozenset({"secret_access_key"})

    def address(self, config: Any) -> str:
        url: str = config.endpoint_url or f"https://events.{config.region}.amazonaws.com"
        return url

    async def open(self, config: Any, reach: Reach) -> Any:
        return await aws_client("events", config, reach)

    def unreachable(self, exc: BaseException) -> bool:
        return aws_unreachable(exc)

    async def publish(self, client: Any, config: Any, message: Message) -> str:
        detail = {"headers": message.headers, "body": message.body.decode()}
        put = await client.put_events(
            Entries=[
                {
                    "Source": config.source,
                    "DetailType": message.headers.get("x-aitopup-event", "webhook"),
                    "Detail": json.dumps(detail, separators=(",", ":")),
                    "EventBusName": config.bus,
                }
            ]
        )
        entry = put["Entries"][0]
        if put.get("FailedEntryCount") or "EventId" not in entry:
            code, said = entry.get("ErrorCode", "refused"), entry.get("ErrorMessage", "")
            raise DestinationError(f"not acknowledged: {code}: {said}")
        return str(entry["EventId"])

    async def probe(self, client: Any, config: Any) -> None:
        await client.describe_event_bus(Name=config.bus)

    async def close(self, client: Any) -> None:
        await client.__aexit__(None, None, None)


EVENTBRIDGE = EventBridge()
