"""What an agent's wallet asks the chain of its x402 payments: whether a seller used an EIP-3009
authorization, and what an address holds of the asset (ERC-20's ``balanceOf(address)``, the
treasury's reconciliation); by the asset contract's ``authorizationState(address authorizer, bytes32
nonce)`` (EIP-3009), read with Ethereum JSON-RPC's ``eth_call`` at the environment's RPC URL
(``AITOPUP_X402_RPC_URL``; staging's ``AITOPUP_X402_STAGING_RPC_URL``, which ``make run`` sets
to its stand-in facilitator, answering from the authorizations it settled).

The state is true once ``transferWithAuthorization`` executed the nonce (or the authorizer
cancelled it, which the gateway's wallets never do): the transfer of the authorization's value
to its payee happened, once. The answer is read bounded, as every provider's
(``billing.channels.providers.calls``), within the payment timeout; a failure is the product's
``PAYMENT_PROVIDER_ERROR`` or ``PAYMENT_PROVIDER_TIMEOUT``."""

import re

from ...billing.channels import offering
from ...billing.channels.providers.calls import request_json
from ...billing.channels.registry import NoCredentials, ProviderError
from ...values.code_names import Code
from ...values.outcome import ApiError
from ...values.settings import Settings

__all__ = ["BALANCE_OF", "SELECTOR", "authorization_used", "balance_of", "call_data", "rpc_url"]

# The first four bytes of keccak256("authorizationState(address,bytes32)").
SELECTOR = "0xe94a0102"
# And of keccak256("balanceOf(address)"), ERC-20's.
BALANCE_OF = "0x70a08231"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_WORD = re.compile(r"0x[0-9a-fA-F]{64}")


def rpc_url(settings: Settings, env: str) -> str | None:
    """The JSON-RPC URL the environment's wallets ask the chain at, if one is set."""
    return settings.x402_staging_rpc_url if env == "staging" else settings.x402_rpc_url


def call_data(authorizer: str, nonce: str) -> str:
    """``authorizationState(authorizer, nonce)`` ABI-encoded: the selector, the address left
    padded to a word, the nonce's word."""
    if _ADDRESS.fullmatch(authorizer) is None or _WORD.fullmatch(nonce) is None:
        raise ValueError("an address and a 32-byte nonce, in hex")
    return SELECTOR + authorizer[2:].lower().rjust(64, "0") + nonce[2:].lower()


async def authorization_used(
    settings: Settings, env: str, *, asset: str, authorizer: str, nonce: str
) -> bool:
    """Whether ``asset``'s contract says ``authorizer``'s authorization ``nonce`` was used."""
    return await _word(settings, env, asset, call_data(authorizer, nonce)) != 0


async def balance_of(settings: Settings, env: str, *, asset: str, holder: str) -> int:
    """``asset``'s ERC-20 ``balanceOf(holder)``: what ``holder`` has, in the asset's smallest
    units (the treasury's reconciliation, ``sellers.reconcile``)."""
    if _ADDRESS.fullmatch(holder) is None:
        raise ValueError("an address, in hex")
    return await _word(settings, env, asset, BALANCE_OF + holder[2:].lower().rjust(64, "0"))


async def _word(settings: Settings, env: str, asset: str, data: str) -> int:
    """The word ``eth_call`` of ``data`` on ``asset``'s contract answers, as a number."""
    url = rpc_url(settings, env)
    if url is None:
        raise ApiError(
            Code.PAYMENT_METHOD_UNSUPPORTED, "No RPC URL is set to ask the chain of x402 payments"
        )
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_call",
        "params": [{"to": asset, "data": data}, "latest"],
    }
    async with offering.context(settings, env, NoCredentials()) as ctx:
        answer = await request_json(ctx.http, "POST", url, json=body)
        result = answer.body.get("result") if isinstance(answer.body, dict) else None
        if answer.status != 200 or not isinstance(result, str) or not _WORD.fullmatch(result):
            raise ProviderError("the chain's answer is not a word", status=answer.status)
    return int(result, 16)
