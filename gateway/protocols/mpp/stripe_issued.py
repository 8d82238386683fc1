"""Stripe's calls for an agent's wallet paying a 402 by MPP: a Shared Payment Token issued from the
merchant's saved payment method for one seller, one amount and one expiry, looked up, and
revoked (``POST /v1/shared_payment/issued_tokens``, ``GET …/{id}``, ``POST …/{id}/revoke``).

The ``stripe`` package has no typed resource for issued tokens yet, so they go through the
client's documented raw request (``StripeClient.raw_request_async``, then ``deserialize``, as
the package's README shows for an API it does not model), in the same exchange every Stripe
call of the channels makes (``billing.channels.providers.stripe_api.exchange``): one client,
Stripe's refusals and silences as ``ApiError``. The object read is
``shared_payment.issued_token`` (``id`` ``spt_…``, ``status``, ``deactivated_reason``,
``usage_details.amount_captured``, ``usage_limits``)."""

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...billing.channels.providers.stripe_api import as_int, as_str, exchange, field
from ...values.code_names import Code
from ...values.outcome import ApiError
from ...values.settings import Settings

__all__ = ["PATH", "IssuedToken", "issue_token", "retrieve_token", "revoke_token"]

PATH = "/v1/shared_payment/issued_tokens"
# What an issued token's id looks like: the only text of ours put in the path.
_ID = re.compile(r"spt_[A-Za-z0-9_]{1,250}")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """An issued Shared Payment Token as Stripe answers it: what the seller captured with it
    (in cents of its currency), and why it can no longer be used, if it cannot."""

    id: str
    status: str
    captured_cents: int
    deactivated_reason: str | None  # consumed, expired, resolved, revoked


def _read(token: Any) -> IssuedToken:
    captured = field(field(field(token, "usage_details"), "amount_captured"), "value")
    token_id = as_str(field(token, "id"))
    if token_id is None or _ID.fullmatch(token_id) is None:
        raise ApiError(Code.PAYMENT_PROVIDER_ERROR)  # not an issued token's answer
    return IssuedToken(
        token_id,
        str(field(token, "status") or ""),
        max(as_int(captured) or 0, 0),
        as_str(field(token, "deactivated_reason")),
    )


def _path(token_id: str, action: str = "") -> str:
    if _ID.fullmatch(token_id) is None:
        raise ApiError(Code.PAYMENT_PROVIDER_ERROR)  # never a path of another resource
    return f"{PATH}/{token_id}{action}"


async def issue_token(
    settings: Settings,
    *,
    payment_method: str,
    network_id: str,
    amount_cents: int,
    currency: str,
    expires_at: datetime,
    key: str,
) -> IssuedToken:
    """A token the seller on Stripe's network profile ``network_id`` may capture at most
    ``amount_cents`` of ``currency`` with until ``expires_at``, from ``payment_method``;
    ``key`` its idempotency key, so the same payment asked again is the same token."""
    async with exchange(settings, "shared payment token issue") as client:
        answer = await client.raw_request_async(
            "post",
            PATH,
            payment_method=payment_method,
            seller_details={"network_business_profile": network_id},
            usage_limits={
                "currency": currency,
                "max_amount": amount_cents,
                "expires_at": int(expires_at.timestamp()),
            },
            idempotency_key=key,
        )
        return _read(client.deserialize(answer, api_mode="V1"))


async def retrieve_token(settings: Settings, token_id: str) -> IssuedToken:
    """The issued token as Stripe has it now."""
    async with exchange(settings, "shared payment token retrieve") as client:
        answer = await client.raw_request_async("get", _path(token_id))
        return _read(client.deserialize(answer, api_mode="V1"))


async def revoke_token(settings: Settings, token_id: str) -> IssuedToken:
    """The issued token revoked: no seller can capture with it any more."""
    async with exchange(settings, "shared payment token revoke") as client:
        answer = await client.raw_request_async("post", _path(token_id, "/revoke"))
        return _read(client.deserialize(answer, api_mode="V1"))
