"""A paying fetch (``POST /payments/fetch``, MCP's ``paid_fetch``): the gateway itself requests
the seller's resource, pays the 402 it meets there under the key's leash, and retries with the
credential, so the origin a payment names is the one it reached over TLS, not the agent's word.

The request goes out on the guarded client upstream calls use (``upstreams.outbound``: every
address judged at the moment of connecting, loopback and private networks refused unless
staging's ``AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS`` allows them), in the merchant's share of its
pool, redirects never followed (a 3xx is the seller's answer), each exchange bounded to
``EXCHANGE`` whole, the answer read to ``MAX_RESPONSE_BYTES`` and cut there (said so), never
decoded: ``Accept-Encoding: identity`` is the gateway's.

A 402 is paid by the one payment every door makes (``doors.pay``, ``service.pay``): its
challenge picked among those the payers read (``registry.challenges_in``, ``demand_of``), the
payment ``proven`` (the origin reached counts as bound to the destination met there, where TLS
vouches for it: ``proves``), kept
under the request's Idempotency-Key matched on the fetch itself. The key keeps the payment,
never the seller's answer: the same fetch again reads what its key keeps before it requests
anything, so a payment authorized (approved after it was held, or whose retry failed) is sent
again with its credential, and nothing is paid twice.
"""

import base64
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ValidationError

from .. import idempotency
from ..callers import Caller
from ..protocols import registry
from ..services import Services
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from ..webhooks.bodies import read_capped
from ..webhooks.transport import SHARE
from . import doors, service
from .schemas import FetchCreate, FetchData, PaymentCreate, SellerResponse

__all__ = ["EXCHANGE", "MAX_RESPONSE_BYTES", "OPERATION", "fetch", "proves", "request_hash_of"]

OPERATION = "payments.fetch"
MAX_RESPONSE_BYTES = 1 << 20
# One exchange with the seller, from the request's start to the answer's last byte.
EXCHANGE = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "aiTopUp-fetch/1"
# What the seller's answer carries of its own framing: not the agent's to read.
_FRAMING = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "te", "trailer"}
)


@dataclass(frozen=True, slots=True)
class Met:
    """What the seller answered: its status, its header lines, its body within the bound (one
    byte past it when it went past)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def proves(url: str, env: str) -> bool:
    """Whether meeting a 402 at ``url`` binds its destination to the url's origin: over TLS,
    whose certificate names the host; in staging (test money), over plain http too, as a
    seller on this machine answers. A live 402 met over plain http could be anyone's on the
    way: its payment is judged as ``POST /payments`` judges one."""
    return url.lower().startswith("https://") or env == "staging"


def request_hash_of(body: FetchCreate) -> str:
    """What a paying fetch's idempotency key is matched on, at every door."""
    return idempotency.fingerprint(OPERATION, body.model_dump(mode="json", exclude={"buy_again"}))


async def fetch(svc: Services, caller: Caller, body: FetchCreate, idempotency_key: str) -> Outcome:
    """``body``'s request made by the gateway: the seller's answer, with the payment of the
    402 it met first (``None`` when it asked for none); or what the payment answered when it
    made no credential (held for approval: 202; refused)."""
    if svc.upstreams is None:
        raise ApiError(Code.SERVICE_UNAVAILABLE)
    http = svc.upstreams.for_env(caller.env)
    request_hash = request_hash_of(body)
    now = utcnow()
    paid = await service.replay(
        svc.db, svc.sealer, svc.settings, caller, idempotency_key, request_hash, now
    )
    if paid is None:
        met = await _send(http, caller, body, {})
        if met.status != 402:
            return _answer(None, met)
        asked = _payment_of(body, _challenge(svc, caller, met))
        proven = proves(body.url, caller.env)
        paid = await doors.pay(
            svc, caller, asked, idempotency_key, proven=proven, request_hash=request_hash
        )
    if paid.code != Code.PAYMENT_AUTHORIZED:
        return paid  # held for approval, refused, in progress: as POST /payments answers
    made = _plain(paid.data)
    payment = (await service.get(svc.db, caller, made["id"])).data
    try:
        met = await _send(http, caller, body, {made["header"]: made["value"]})
    except ApiError as failed:  # paid, the seller not reached: the key sends it again
        raise ApiError(failed.code, failed.message, data={"payment": _plain(payment)}) from None
    return _answer(payment, met)


def _plain(data: Any) -> dict[str, Any]:
    found: dict[str, Any] = data.model_dump() if isinstance(data, BaseModel) else dict(data)
    return found


def _challenge(svc: Services, caller: Caller, met: Met) -> str:
    """The first challenge of the seller's 402 a payer of this gateway reads for the caller's
    wallet; none: the first refusal, or that none is this gateway's to pay."""
    now = utcnow()
    first: ApiError | None = None
    for text in registry.challenges_in(met.headers):
        try:
            registry.demand_of(svc.settings, text, now, env=caller.env)
        except ApiError as refused:
            first = first or refused
            continue
        return text
    raise first or ApiError(
        Code.PAYMENT_METHOD_UNSUPPORTED,
        "The seller answered 402 with no challenge this gateway pays: nothing was paid",
    )


def _payment_of(body: FetchCreate, challenge: str) -> PaymentCreate:
    try:
        return PaymentCreate.model_validate(
            {
                "url": body.url,
                "challenge": challenge,
                "description": body.description,
                "buy_again": body.buy_again,
            }
        )
    except ValidationError:
        raise ApiError(
            Code.PAYMENT_CREDENTIAL_MALFORMED,
            "The seller's challenge is not one a payment keeps: nothing was paid",
        ) from None


async def _send(
    http: httpx.AsyncClient, caller: Caller, body: FetchCreate, credential: dict[str, str]
) -> Met:
    """The request to the seller, and its answer read within the bounds."""
    headers = httpx.Headers({"User-Agent": USER_AGENT})
    headers.update(body.headers)
    headers.update(credential)
    headers["Accept-Encoding"] = "identity"
    content = None if body.body is None else body.body.encode("utf-8", "surrogatepass")
    try:
        request = http.build_request(
            body.method,
            body.url,
            headers=headers,
            content=content,
            timeout=EXCHANGE,
            extensions={SHARE: caller.merchant_id},
        )
        response = await http.send(request, stream=True)
        try:
            read = await read_capped(response, MAX_RESPONSE_BYTES + 1)
        finally:
            await response.aclose()
    except httpx.InvalidURL:
        raise ApiError(Code.SELLER_ADDRESS_REFUSED) from None
    except httpx.TransportError as exc:
        if str(exc).startswith("blocked:"):  # the address check: no later try passes it
            raise ApiError(Code.SELLER_ADDRESS_REFUSED) from None
        raise ApiError(Code.SELLER_UNREACHABLE) from None
    return Met(response.status_code, response.headers.multi_items(), read)


def _answer(payment: Any, met: Met) -> Outcome:
    body = met.body
    truncated = len(body) > MAX_RESPONSE_BYTES
    body = body[:MAX_RESPONSE_BYTES]
    headers: dict[str, str] = {}
    for name, value in met.headers:
        lower = name.lower()
        if lower not in _FRAMING:
            headers[lower] = f"{headers[lower]}, {value}" if lower in headers else value
    encoding: Literal["utf-8", "base64"] = "utf-8"
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode("ascii"), "base64"
    response = SellerResponse(
        status=met.status, headers=headers, body=text, encoding=encoding, truncated=truncated
    )
    data = FetchData(payment=payment, response=response)
    return Outcome(Code.SUCCESS, data, transaction_id=None if payment is None else payment.id)
