"""The staging sandbox's Shared Payment Tokens: what an agent's ``create_token`` calls in
staging, as Stripe's ``test_helpers/shared_payment/granted_tokens`` in test mode.

Built on the REST door's steps it is lent (``base.Door``): its caller and its answer."""

from typing import Literal

from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from ...ops.routing import BODY_ERRORS, KEY_ERRORS, ApiRoute, RouteDoc
from ...services import services
from ...values.code_names import Code
from ...values.model import Model
from ...values.outcome import ApiError
from ...values.parsing import read_json
from ..base import Door
from . import sandbox_spt

__all__ = ["SharedPaymentTokenData", "SharedPaymentTokenRequest", "routes"]


class SharedPaymentTokenRequest(Model):
    model_config = ConfigDict(extra="forbid")

    amount_cents: int = Field(ge=1, le=100_000_000, description="The most it may be charged.")
    currency: Literal["usd", "USD"] = "usd"


class SharedPaymentTokenData(Model):
    id: str = Field(description="The token (spt_test_…), for a Payment credential's payload.")
    amount_cents: int
    currency: str


def routes(door: Door) -> list[ApiRoute]:
    async def mint_token(request: Request) -> Response:
        caller = door.caller(request, None)
        svc = services(request)
        if caller.env != "staging":
            raise ApiError(Code.ENV_NOT_ALLOWED, "The sandbox is only for staging keys")
        body, _ = await read_json(
            request, SharedPaymentTokenRequest, limit=svc.settings.max_body_bytes
        )
        currency = body.currency.lower()
        granted = sandbox_spt.grant(svc.settings, caller.merchant_id, body.amount_cents, currency)
        return await door.answer(request, granted)

    return [
        ApiRoute(
            "/billing/sandbox/shared-payment-tokens",
            mint_token,
            methods=["POST"],
            doc=RouteDoc(
                "Mint a test Shared Payment Token (staging): what an agent pays an MPP challenge "
                "with, charged by the sandbox",
                "billing",
                body=SharedPaymentTokenRequest,
                response=SharedPaymentTokenData,
                success=Code.CREATED,
                errors=(*KEY_ERRORS, *BODY_ERRORS, Code.ENV_NOT_ALLOWED),
                secret=True,
            ),
        ),
    ]
