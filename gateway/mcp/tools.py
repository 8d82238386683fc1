"""The MCP tools: the top-up routes as tools, each parse → the same operation → the envelope.

Every tool's input schema is the JSON Schema of the pydantic model the REST route validates
with (``send_topup`` adds the idempotency key, which REST takes as a header), and its output
schema is the envelope with that route's ``data`` model. A tool answers what the route answers:
an ``Outcome`` (a list's with its ``meta``), or an ``ApiError``; ``server.py`` renders either.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from mcp import types
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from .. import idempotency, merchant_limits
from ..billing import orders
from ..billing import service as billing_service
from ..billing.checkin import daily
from ..billing.checkin.schemas import CheckInData
from ..billing.schemas import CheckoutData, CheckoutRequest, TopupInfo
from ..callers import Caller
from ..freezes import service as freezes
from ..freezes.schemas import FreezeData, FreezeRequest
from ..merchants import keys
from ..operations import perform
from ..policies.model import Scope
from ..policies.usage import KeyUsage
from ..protocols.paid import Answered
from ..protocols.registry import Presenting
from ..sellers import doors as payment_doors
from ..sellers import fetch
from ..sellers.schemas import (
    FetchCreate,
    FetchData,
    PaymentCreate,
    PaymentData,
    PaymentMade,
)
from ..services import Services
from ..topup import cancelling, doors, paying, reads, vouchers
from ..topup.schemas import (
    TXN_ID,
    BalanceData,
    ListQuery,
    RedeemedData,
    RedeemVoucherRequest,
    SendData,
    SendRequest,
    TopupData,
)
from ..values.code_names import Code
from ..values.envelope import validation_details
from ..values.model import Model
from ..values.outcome import ApiError, CursorMeta, EnvelopeBody, Outcome
from ..values.parsing import check_cursor

__all__ = ["TOOLS", "ToolSpec", "by_name", "send_topup_paying"]

Run = Callable[[Services, Caller, dict[str, Any]], Awaitable[Outcome]]
Pays = Callable[[Services, Caller, dict[str, Any], Presenting | None], Awaitable[Answered]]
M = TypeVar("M", bound=BaseModel)


class SendTopupArguments(SendRequest):
    """``send_topup``'s input: the send's body, and the key that makes a retry safe."""

    idempotency_key: str = Field(
        min_length=1,
        max_length=255,
        description="Required. 1 to 255 printable ASCII characters; the same key with the same "
        "arguments within 24 h returns the first result again and moves no money twice. Shared "
        "with the REST API's Idempotency-Key header, and belongs to the calling API key alone.",
    )


PaymentKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=255,
        description="Required. The same key with the same arguments within 24 h answers the "
        "first result again (the same credential) and debits once. Shared with the REST API's "
        "Idempotency-Key header, and belongs to the calling API key alone.",
    ),
]


class PayChallengeArguments(PaymentCreate):
    """``pay_challenge``'s input: ``POST /payments``'s body, and the key that makes a retry
    safe."""

    idempotency_key: PaymentKey


class PaidFetchArguments(FetchCreate):
    """``paid_fetch``'s input: ``POST /payments/fetch``'s body, and its key."""

    idempotency_key: PaymentKey


class NoArguments(Model):
    model_config = ConfigDict(extra="forbid", strict=True)


class TopupRef(Model):
    model_config = ConfigDict(extra="forbid", strict=True)

    transaction_id: str = Field(description="txn_… as the send returned it")


def _envelope(name: str, data: Any, *, meta: type[BaseModel] | None = None) -> type[BaseModel]:
    """The envelope's model with this tool's ``data`` (and ``meta``): its output schema."""
    fields: dict[str, Any] = {"data": (data, ...)}
    if meta is not None:
        fields["meta"] = (meta, ...)
    return create_model(name, __base__=EnvelopeBody, **fields)


def _parse(model: type[M], arguments: dict[str, Any], context: dict[str, Any] | None = None) -> M:
    try:
        return model.model_validate(arguments, context=context)
    except ValidationError as exc:
        raise ApiError(Code.VALIDATION_FAILED, data={"errors": validation_details(exc)}) from None


def _txn_id(arguments: dict[str, Any]) -> str:
    txn_id = _parse(TopupRef, arguments).transaction_id
    if not TXN_ID.fullmatch(txn_id):
        raise ApiError(Code.TRANSACTION_NOT_FOUND)
    return txn_id


def _keyed(arguments: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """A tool's arguments without its idempotency key, and the key, required."""
    rest = dict(arguments)
    presented = rest.pop("idempotency_key", None)
    if not isinstance(presented, str):
        raise ApiError(Code.INVALID_IDEMPOTENCY_KEY)
    key = idempotency.parse_key(presented)
    assert key is not None
    return rest, key


async def pay_challenge(svc: Services, caller: Caller, arguments: dict[str, Any]) -> Outcome:
    rest, key = _keyed(arguments)
    body = _parse(PaymentCreate, rest)
    await merchant_limits.SELLER_PAYMENTS.count(svc, caller.merchant_id, caller.env)
    return await payment_doors.pay(svc, caller, body, key)


async def paid_fetch(svc: Services, caller: Caller, arguments: dict[str, Any]) -> Outcome:
    rest, key = _keyed(arguments)
    body = _parse(FetchCreate, rest)
    await merchant_limits.SELLER_PAYMENTS.count(svc, caller.merchant_id, caller.env)
    return await fetch.fetch(svc, caller, body, key)


def _send_arguments(svc: Services, arguments: dict[str, Any]) -> tuple[SendRequest, str]:
    # Required here, where REST takes it optionally as a header: an agent retries on its own.
    rest, key = _keyed(arguments)
    body = _parse(SendRequest, rest, {"max_topup_cents": svc.settings.max_topup_cents})
    return body, key


async def send_topup(svc: Services, caller: Caller, arguments: dict[str, Any]) -> Outcome:
    body, key = _send_arguments(svc, arguments)
    return await doors.send(svc, caller, body, key)


async def send_topup_paying(
    svc: Services, caller: Caller, arguments: dict[str, Any], presenting: Presenting | None
) -> Answered:
    """``send_topup`` paid by the agent: a refusal for funds carries the offers spoken over MCP
    (MPP's challenge, no credential header advertised: MCP's travels in ``_meta``), a
    credential pays it (``topup.paying``)."""
    body, key = _send_arguments(svc, arguments)
    return await paying.send(svc, caller, body, key, presenting, transport="mcp")


async def get_topup(svc: Services, caller: Caller, arguments: dict[str, Any]) -> Outcome:
    txn_id = _txn_id(arguments)
    return await perform(svc.waker, reads.get(svc.db, svc.sealer, caller, txn_id))


async def list_topups(svc: Services, caller: Caller, arguments: dict[str, Any]) -> Outcome:
    query = _parse(ListQuery, arguments)
    check_cursor(query.cursor, TXN_ID)
    operation = reads.list_page(svc.db, svc.sealer, caller, limit=query.limit, cursor=query.cursor)
    return await perform(svc.waker, operation)


async def cancel_topup(svc: Services, caller: Caller, arguments: dict[str, Any]) -> Outcome:
    txn_id = _txn_id(arguments)
    return await perform(svc.waker, cancelling.cancel(svc.db, svc.sealer, caller, txn_id))


async def redeem_voucher(svc: Services, caller: Caller, arguments: dict[str, Any]) -> Outcome:
    body = _parse(RedeemVoucherRequest, arguments)
    operation = vouchers.redeem(svc.db, svc.sealer, caller, body.code)
    return await perform(svc.waker, operation)


async def get_balance(svc: Services, caller: Caller, arguments: dict[str, Any]) -> Outcome:
    _parse(NoArguments, arguments)
    return await perform(svc.waker, reads.balance(svc.db, caller))


async def get_key_limits(svc: Services, caller: Caller, arguments: dict[str, Any]) -> Outcome:
    _parse(NoArguments, arguments)
    return await perform(svc.waker, keys.own_limits(svc.db, caller))


async def get_topup_info(svc: Services, caller: Caller, arguments: dict[str, Any]) -> Outcome:
    _parse(NoArguments, arguments)
    operation = billing_service.topup_info(svc.db, svc.settings, caller)
    return await perform(svc.waker, operation)


async def create_checkout(svc: Services, caller: Caller, arguments: dict[str, Any]) -> Outcome:
    body = _parse(CheckoutRequest, arguments)
    await merchant_limits.PAYMENT_CALLS.count(svc, caller.merchant_id, caller.env)
    operation = orders.checkout(svc.db, svc.settings, caller, body)
    return await perform(svc.waker, operation)


async def check_in(svc: Services, caller: Caller, arguments: dict[str, Any]) -> Outcome:
    _parse(NoArguments, arguments)
    return await perform(svc.waker, daily.check_in(svc.db, caller))


async def freeze_environment(svc: Services, caller: Caller, arguments: dict[str, Any]) -> Outcome:
    body = _parse(FreezeRequest, arguments)
    who = freezes.Freezer(caller.merchant_id, caller.env, f"key {caller.key_id}")
    return await perform(svc.waker, freezes.freeze(svc.db, svc.sealer, who, body))


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    title: str
    description: str
    scope: Scope | None  # checked before the tool acts, as every door does (None: any key)
    arguments: type[BaseModel]
    reply: type[BaseModel]
    annotations: types.ToolAnnotations
    run: Run
    # A tool whose refusal for funds an agent may pay (MPP): run with what the call presented.
    pays: Pays | None = None

    def tool(self) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=self.description,
            input_schema=self.arguments.model_json_schema(),
            output_schema=self.reply.model_json_schema(),
            annotations=self.annotations,
        )


def _read(title: str) -> types.ToolAnnotations:
    return types.ToolAnnotations(title=title, read_only_hint=True, open_world_hint=False)


def _write(title: str, *, open_world: bool) -> types.ToolAnnotations:
    """A tool that changes money for good, yet is safe to call again (``idempotentHint``)."""
    return types.ToolAnnotations(
        title=title,
        read_only_hint=False,
        destructive_hint=True,
        idempotent_hint=True,
        open_world_hint=open_world,
    )


_ENVELOPE = (
    " The result is the REST API's envelope {success, code, message, transaction_id, status, "
    "timestamp, data}; a refusal is an error result carrying the envelope with its code."
)

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "send_topup",
        "Send a top-up",
        "Send prepaid credits (integer cents) for a platform to a recipient's e-mail, debited "
        "from the wallet of the key's environment (staging moves no real credits). The voucher "
        "is in data.voucher_code. Retry with the same idempotency_key: it never sends twice. "
        "A send refused for funds (4001) is kept under its key too: the same key answers the "
        "same refusal again, even once the wallet is funded. Fund the wallet (data.fund says "
        "where; create_checkout makes a link a person pays), then send again with a FRESH "
        "idempotency_key. Or pay it yourself (MPP): that refusal is the JSON-RPC error -32042 "
        "whose data.challenges holds a Stripe charge challenge (data.envelope the envelope); "
        "call again with the same arguments and the credential in "
        '_meta["org.paymentauth/credential"]: it is paid once and the send is made, the '
        'receipt in the result\'s _meta["org.paymentauth/receipt"].' + _ENVELOPE,
        "topup:send",
        SendTopupArguments,
        _envelope("SendEnvelope", SendData),
        # Moves money, and cannot be taken back by calling again; the same idempotency key
        # makes a repeat harmless, which is what idempotentHint promises.
        _write("Send a top-up", open_world=True),
        send_topup,
        send_topup_paying,
    ),
    ToolSpec(
        "pay_challenge",
        "Pay a seller's 402",
        "Pay an HTTP 402 a seller answered, from the wallet of the key's environment, under "
        "the key's policy (scope payments:send, allowed_payees, per_payee_limit, its limits): "
        "url is the seller's resource, challenge its WWW-Authenticate: Payment … value or its "
        "PAYMENT-REQUIRED value. The wallet is debited and holds the amount (data.funded_by "
        "own: the merchant's own instrument pays, the wallet is not); data.value is the "
        "credential, sent as the data.header header on the retry of the seller's request "
        "(shown in this result and its replays only); released if unused by data.expires_at. "
        "Retry with the same idempotency_key: it never pays twice. A payment a rule of the "
        "key's policy holds answers code 1173, status pending_approval, without a credential: "
        "call again with the same idempotency_key once a person decides." + _ENVELOPE,
        "payments:send",
        PayChallengeArguments,
        _envelope("PaymentEnvelope", PaymentMade | PaymentData),
        # Moves money; the same idempotency key makes a repeat harmless.
        _write("Pay a seller's 402", open_world=True),
        pay_challenge,
    ),
    ToolSpec(
        "paid_fetch",
        "Fetch a seller's resource, paying its 402",
        "Request url (method, headers, body as given) through the gateway: a 402 it answers is "
        "paid from the wallet under the key's policy, as pay_challenge pays it, and the request "
        "sent again with the credential. data.response is the seller's {status, headers, body}; "
        "data.payment the payment (null when the seller asked for none). A payment held for "
        "approval answers code 1173 without a response: call again with the same "
        "idempotency_key once a person approves it. It never pays twice." + _ENVELOPE,
        "payments:send",
        PaidFetchArguments,
        _envelope("FetchEnvelope", FetchData | PaymentData),
        _write("Fetch a seller's resource, paying its 402", open_world=True),
        paid_fetch,
    ),
    ToolSpec(
        "get_balance",
        "Wallet balance",
        "The wallet balance of the key's environment, in cents." + _ENVELOPE,
        "topup:read",
        NoArguments,
        _envelope("BalanceEnvelope", BalanceData),
        _read("Wallet balance"),
        get_balance,
    ),
    ToolSpec(
        "get_topup",
        "Get a top-up",
        "One top-up by its transaction id, with its status and voucher." + _ENVELOPE,
        "topup:read",
        TopupRef,
        _envelope("TopupEnvelope", TopupData),
        _read("Get a top-up"),
        get_topup,
    ),
    ToolSpec(
        "list_topups",
        "List top-ups",
        "Top-ups of the key's environment, newest first; pass meta.next_cursor as cursor for "
        "the next page." + _ENVELOPE,
        "topup:read",
        ListQuery,
        _envelope("TopupListEnvelope", list[TopupData], meta=CursorMeta),
        _read("List top-ups"),
        list_topups,
    ),
    ToolSpec(
        "cancel_topup",
        "Cancel a pending top-up",
        "Cancel a pending top-up and refund it to the wallet; any other status is refused "
        "(4005)." + _ENVELOPE,
        "topup:send",
        TopupRef,
        _envelope("CancelEnvelope", TopupData),
        # A second cancel changes nothing more (it is refused: no longer pending).
        _write("Cancel a pending top-up", open_world=False),
        cancel_topup,
    ),
    ToolSpec(
        "redeem_voucher",
        "Redeem a voucher",
        "Redeem a voucher (ATU-…) this merchant sent, when its recipient presents it to the "
        "merchant's product: once, in the key's environment; its amount is taken from the "
        "recipient's balance here. A repeat is refused (4241) with the first redemption's "
        "data." + _ENVELOPE,
        "topup:send",
        RedeemVoucherRequest,
        _envelope("RedeemVoucherEnvelope", RedeemedData),
        # Spends the voucher; calling again changes nothing more (refused: already redeemed).
        _write("Redeem a voucher", open_world=False),
        redeem_voucher,
    ),
    ToolSpec(
        "get_key_limits",
        "This key's limits",
        "The calling key's policy (scopes, caps, allowed platforms and recipients) and, per "
        "spend limit, what it spent, what remains and when the window resets (a rolling "
        "window: frees_at, when its oldest spend leaves it): plan a send before making it."
        + _ENVELOPE,
        None,  # every key may read its own limits, as GET /keys/self
        NoArguments,
        _envelope("KeyLimitsEnvelope", KeyUsage),
        _read("This key's limits"),
        get_key_limits,
    ),
    ToolSpec(
        "get_topup_info",
        "How to fund the wallet",
        "What funding the key's environment offers: packs, custom amounts (min, max, step, "
        "options), discount tiers, payment providers, redemption, and the dashboard's wallet "
        "page. Read it after a 4001 (insufficient balance), whose data says the shortfall."
        + _ENVELOPE,
        "billing",
        NoArguments,
        _envelope("TopupInfoEnvelope", TopupInfo),
        _read("How to fund the wallet"),
        get_topup_info,
    ),
    ToolSpec(
        "create_checkout",
        "Create a checkout link",
        "Start funding the wallet: a pack (pack_id) or a custom amount (amount_cents), with an "
        "optional coupon; data.checkout_url is an absolute link for a person to open and pay "
        "(Stripe Checkout in live, the sandbox in staging). success_url and cancel_url are "
        "optional: without them the payer lands on the gateway's page saying whether the "
        "wallet was funded. Nothing is credited until it is paid; the link is a credential, "
        "hand it only to who should pay. Once paid, send again with a fresh idempotency_key."
        + _ENVELOPE,
        "billing",
        CheckoutRequest,
        _envelope("CheckoutEnvelope", CheckoutData),
        # Makes an order (a pending one, no money moved); calling again makes another.
        types.ToolAnnotations(
            title="Create a checkout link",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=False,
            open_world_hint=True,
        ),
        create_checkout,
    ),
    ToolSpec(
        "checkin",
        "Daily check-in",
        "Claim today's check-in reward: between the operator's bounds, in cents, credited to "
        "the wallet of the key's environment once per UTC day (staging: the day of the "
        "merchant's test clock). Another call the same day is refused (4300) with "
        "data.next_checkin_at, changing nothing; 4301 when check-in is off (live, unless the "
        "operator turned it on). No arguments." + _ENVELOPE,
        "billing",
        NoArguments,
        _envelope("CheckInEnvelope", CheckInData),
        # Credits the wallet, at most once a day: calling again the same day changes nothing
        # (refused), so no idempotency key is needed.
        types.ToolAnnotations(
            title="Daily check-in",
            read_only_hint=False,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,
        ),
        check_in,
    ),
    ToolSpec(
        "freeze_environment",
        "Freeze this environment (kill switch)",
        "Stop every key, consent and app token of the key's environment at once, this one "
        "included: from the next call each is refused (2360) in every gateway process, and "
        "no send not yet debited goes through. held: keep (default) leaves sends held for "
        "approval held, cancel denies and refunds them. budget_id freezes one budget only. "
        "Only a person undoes it (an owner on the dashboard, or DELETE /freeze with a key "
        "holding the keys scope and free of every limit): no tool can, and no key held by a "
        "limit, a budget or an approval rule." + _ENVELOPE,
        "keys",
        FreezeRequest,
        _envelope("FreezeEnvelope", FreezeData),
        # Stops the environment until a person unfreezes it; freezing again changes nothing.
        types.ToolAnnotations(
            title="Freeze this environment (kill switch)",
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=True,
            open_world_hint=False,
        ),
        freeze_environment,
    ),
)

_BY_NAME = {spec.name: spec for spec in TOOLS}


def by_name(name: str) -> ToolSpec | None:
    return _BY_NAME.get(name)
