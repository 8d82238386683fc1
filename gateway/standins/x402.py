"""An x402 facilitator stood in on this machine, speaking ``specs/transports-v2/http.md``'s
facilitator shapes: ``POST /verify`` and ``POST /settle`` with ``{x402Version, paymentPayload,
paymentRequirements}``, and ``GET /supported`` (``{kinds, extensions, signers}``). It checks
what a real one checks of the ``exact`` scheme on EVM, but the chain: the EIP-3009
authorization pays ``payTo`` the amount, its window is open, its EIP-712 signature recovers
to ``from`` (the asset's domain from the requirement's ``extra``), and its nonce was never
used; a settle answers a made-up transaction hash.

A settle sent again with the same signed payload answers the same settlement, as the ``x402``
package's facilitators do for a payment they broadcast already (its pending-settlement
store), unless ``remembers`` is off (a facilitator without one); another authorization with a
used nonce, or that one sent to a facilitator that forgot it, is refused as the chain refuses
it (``invalid_exact_evm_nonce_already_used``). ``lose_settles`` makes the next settles happen but
their answers be lost on the way back (a 504, as from a proxy that gave up waiting);
``drop_settles`` makes the next settles fail on the way there (a 503, nothing settled).

It answers the chain's side an agent's wallet asks of its own payments too: Ethereum JSON-RPC
at ``POST /rpc``, ``eth_call`` of an asset contract's ``authorizationState(address authorizer,
bytes32 nonce)`` (EIP-3009), true for the authorizations it settled (the asset, the payer and
the nonce), false for any other; and of ERC-20's ``balanceOf(address)``: what an address holds
of the asset, as funded here (``fund``) and moved by each settle (the payer's debited, the
payee's credited). A settle from a funded address that holds less than its amount is refused
as the chain refuses it (``invalid_exact_evm_insufficient_balance``); an address never funded
here is not checked (a test network's faucet funded it). Any other method is JSON-RPC's
``-32601``.

It needs x402's EVM extra (``eth-account``, whose ``eth_keys`` recovers the signer)."""

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_keys.datatypes import Signature
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from x402.mechanisms.evm.constants import (
    ERR_AUTHORIZATION_VALUE_MISMATCH,
    ERR_INSUFFICIENT_BALANCE,
    ERR_INVALID_SIGNATURE,
    ERR_NETWORK_MISMATCH,
    ERR_NONCE_ALREADY_USED,
    ERR_RECIPIENT_MISMATCH,
    ERR_UNSUPPORTED_SCHEME,
    ERR_VALID_AFTER_FUTURE,
    ERR_VALID_BEFORE_EXPIRED,
)
from x402.mechanisms.evm.eip712 import hash_eip3009_authorization
from x402.mechanisms.evm.types import ExactEIP3009Authorization
from x402.mechanisms.evm.utils import get_evm_chain_id

from .faults import Faults

__all__ = ["NETWORK", "X402FacilitatorStandIn"]

NETWORK = "eip155:84532"  # Base Sepolia: a test network, so nothing here is ever real money
_MALFORMED = "invalid_payload"


@dataclass
class X402FacilitatorStandIn:
    url: str = ""
    networks: tuple[str, ...] = (NETWORK,)
    now: Callable[[], float] = time.time  # a test's clock, for the authorization's window
    faults: Faults = field(default_factory=Faults)
    lose_settles: int = 0  # the next settles happen, their answers lost
    drop_settles: int = 0  # the next settles never arrive
    remembers: bool = True  # a payment settled already answers its settlement again
    settled: dict[str, dict[str, Any]] = field(default_factory=dict)  # nonce → its settle
    # (asset, authorizer, nonce), lower case, of every authorization settled: the chain's state.
    executed: set[tuple[str, str, str]] = field(default_factory=set)
    signatures: dict[str, str] = field(default_factory=dict)  # nonce → the signature settled
    # (asset, holder), lower case → its balance in the asset's smallest units: the funded ones
    # and every payee paid.
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    funded: set[tuple[str, str]] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/verify", self._verify, methods=["POST"]),
                Route("/settle", self._settle, methods=["POST"]),
                Route("/supported", self._supported, methods=["GET"]),
                Route("/rpc", self._rpc, methods=["POST"]),
            ]
        )

    def fund(self, asset: str, holder: str, units: int) -> None:
        """``holder`` is given ``units`` more of ``asset``, and its settles checked against it."""
        found = (asset.lower(), holder.lower())
        self.funded.add(found)
        self.balances[found] = self.balances.get(found, 0) + units

    def balance(self, asset: str, holder: str) -> int:
        return self.balances.get((asset.lower(), holder.lower()), 0)

    def _invalid(self, body: dict[str, Any]) -> str | None:
        """Why the payment is not valid, or None."""
        if body.get("x402Version") != 2:
            return "invalid_x402_version"
        payload, need = body["paymentPayload"], body["paymentRequirements"]
        if payload["accepted"] != need:
            return "requirements_mismatch"
        if need["scheme"] != "exact":
            return ERR_UNSUPPORTED_SCHEME
        if need["network"] not in self.networks:
            return ERR_NETWORK_MISMATCH
        auth = payload["payload"]["authorization"]
        if auth["to"].lower() != need["payTo"].lower():
            return ERR_RECIPIENT_MISMATCH
        if int(auth["value"]) != int(need["amount"]):
            return ERR_AUTHORIZATION_VALUE_MISMATCH
        if auth["nonce"] in self.settled:
            return ERR_NONCE_ALREADY_USED
        if int(auth["validAfter"]) > self.now():
            return ERR_VALID_AFTER_FUTURE
        if self.now() >= int(auth["validBefore"]):
            return ERR_VALID_BEFORE_EXPIRED
        payer = (need["asset"].lower(), auth["from"].lower())
        if payer in self.funded and self.balances.get(payer, 0) < int(auth["value"]):
            return ERR_INSUFFICIENT_BALANCE
        authorization = ExactEIP3009Authorization(
            from_address=auth["from"],
            to=auth["to"],
            value=auth["value"],
            valid_after=auth["validAfter"],
            valid_before=auth["validBefore"],
            nonce=auth["nonce"],
        )
        digest = hash_eip3009_authorization(
            authorization,
            get_evm_chain_id(need["network"]),
            need["asset"],
            need["extra"]["name"],
            need["extra"]["version"],
        )
        raw = bytes.fromhex(payload["payload"]["signature"].removeprefix("0x"))
        v = raw[64] - 27 if raw[64] >= 27 else raw[64]
        signer = Signature(raw[:64] + bytes([v])).recover_public_key_from_msg_hash(digest)
        if signer.to_checksum_address().lower() != auth["from"].lower():
            return ERR_INVALID_SIGNATURE
        return None

    async def _read(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        """The body, or the answer to a call that cannot be read (a fault's, or a 400)."""
        failed = await self.faults.before()
        if failed is not None:
            return None, failed
        try:
            body = await request.json()
            body["paymentPayload"]["payload"]["authorization"]["nonce"]
            body["paymentRequirements"]["network"]
        except (ValueError, KeyError, TypeError):
            return None, JSONResponse({"error": _MALFORMED}, status_code=400)
        return body, None

    async def _verify(self, request: Request) -> Response:
        self.asked.append("verify")
        body, answer = await self._read(request)
        if body is None:
            assert answer is not None
            return answer
        why = self._invalid(body)
        payer = body["paymentPayload"]["payload"]["authorization"].get("from")
        if why is not None:
            return JSONResponse({"isValid": False, "invalidReason": why, "payer": payer})
        return JSONResponse({"isValid": True, "payer": payer})

    async def _settle(self, request: Request) -> Response:
        self.asked.append("settle")
        if self.drop_settles > 0:
            self.drop_settles -= 1
            return JSONResponse({"error": "unavailable"}, status_code=503)
        body, answer = await self._read(request)
        if body is None:
            assert answer is not None
            return answer
        need = body["paymentRequirements"]
        auth = body["paymentPayload"]["payload"]["authorization"]
        signature = body["paymentPayload"]["payload"].get("signature")
        nonce = auth["nonce"]
        if self.remembers and nonce in self.settled and self.signatures.get(nonce) == signature:
            return self._answer(self.settled[nonce])  # this payment, broadcast already
        why = self._invalid(body)
        if why is not None:
            failed = {
                "success": False,
                "errorReason": why,
                "transaction": "",
                "network": need["network"],
            }
            return JSONResponse(failed)
        done = {
            "success": True,
            "payer": auth["from"],
            "transaction": "0x" + secrets.token_hex(32),
            "network": need["network"],
            "amount": need["amount"],
        }
        self.settled[nonce] = done
        self.signatures[nonce] = signature
        self.executed.add((need["asset"].lower(), auth["from"].lower(), nonce.lower()))
        moved = int(auth["value"])
        payer, payee = (
            (need["asset"].lower(), auth["from"].lower()),
            (need["asset"].lower(), auth["to"].lower()),
        )
        self.balances[payer] = self.balances.get(payer, 0) - moved
        self.balances[payee] = self.balances.get(payee, 0) + moved
        return self._answer(done)

    def _answer(self, done: dict[str, Any]) -> Response:
        if self.lose_settles > 0:
            self.lose_settles -= 1
            return JSONResponse({"error": "gateway timeout"}, status_code=504)
        return JSONResponse(done)

    async def _supported(self, request: Request) -> Response:
        self.asked.append("supported")
        failed = await self.faults.before()
        if failed is not None:
            return failed
        kinds = [{"x402Version": 2, "scheme": "exact", "network": n} for n in self.networks]
        return JSONResponse({"kinds": kinds, "extensions": [], "signers": {"eip155:*": []}})

    async def _rpc(self, request: Request) -> Response:
        """Ethereum JSON-RPC: ``eth_call`` of ``authorizationState`` from what was settled."""
        self.asked.append("rpc")
        failed = await self.faults.before()
        if failed is not None:
            return failed
        try:
            body = await request.json()
            ident = body.get("id")
            if body.get("method") != "eth_call":
                return _rpc_error(ident, -32601, "the method does not exist")
            call = body["params"][0]
            asset, data = str(call["to"]).lower(), str(call["data"]).lower()
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return _rpc_error(None, -32600, "invalid request")
        if len(data) == 2 + 8 + 64 and data.startswith(BALANCE_OF):
            held = max(0, self.balances.get((asset, "0x" + data[10:][-40:]), 0))
            return JSONResponse({"jsonrpc": "2.0", "id": ident, "result": f"0x{held:064x}"})
        if len(data) != 2 + 8 + 128 or not data.startswith(AUTHORIZATION_STATE):
            return _rpc_error(ident, -32000, "execution reverted")
        authorizer, nonce = "0x" + data[10:74][-40:], "0x" + data[74:]
        state = (asset, authorizer, nonce) in self.executed
        word = "0x" + f"{int(state):064x}"
        return JSONResponse({"jsonrpc": "2.0", "id": ident, "result": word})


# The selector of ``authorizationState(address,bytes32)``.
AUTHORIZATION_STATE = "0xe94a0102"
# And of ERC-20's ``balanceOf(address)``.
BALANCE_OF = "0x70a08231"


def _rpc_error(ident: Any, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}}
    )
