"""``make run`` as two merchants of one gateway meet: the demo merchant's agent, its staging
wallet empty, is refused a send for funds with MPP's challenge and x402's offer; a second
merchant, made with the command line in the same folder, has its wallet pay each 402
(``POST /payments``); the demo's agent retries with the credential and the send is delivered.
Each payment moves its amount once, from the payer's wallet to the seller's, however often the
credential is presented, and the worker learns the seller used it."""

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.redis_server import RedisServer, free_port
from tests.fixtures.core import poll_until
from tests.fixtures.make_run import make_run, run_env, started_key

API = "/api/public/v1"
FUNDED = 10_000
# The payer's key: it pays sellers, funds its sandbox wallet, reads its balance and ledger.
PAYER_POLICY = {"scopes": ["payments:send", "billing", "topup:read"]}
# The worker's first look at a payment's use comes 15 s after it is authorized.
USED_WITHIN = 120.0


def _cli(folder: Path, env: dict[str, str], *args: str) -> str:
    """``aitopup ARGS`` in ``make run``'s folder, on the store and secrets it wrote there."""
    ran = subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def _payer_key(folder: Path, env: dict[str, str]) -> str:
    """A second merchant and its staging key that may pay sellers, made as an operator does."""
    merchant = _cli(folder, env, "merchants", "create", "payer").splitlines()[-1]
    assert merchant.startswith("mer_"), merchant
    said = _cli(
        folder,
        env,
        *("keys", "create", "--env", "staging", "--merchant", merchant),
        *("--policy", json.dumps(PAYER_POLICY)),
    )
    key = re.search(r"^ak_staging_\w{32}$", said, re.M)
    assert key is not None, said
    return key.group(0)


def _facilitator_said(proc: "subprocess.Popen[str]") -> str:
    """The x402 facilitator's line ``make run`` prints after the key's."""
    assert proc.stdout is not None
    for _ in range(10):
        said = proc.stdout.readline().strip()
        if said.startswith("staging's x402 facilitator"):
            return said
    raise AssertionError("no x402 facilitator line")


class Agent:
    """One merchant's agent on the served gateway: its key's requests."""

    def __init__(self, http: httpx.Client, key: str) -> None:
        self.http, self.headers = http, {"Authorization": f"Bearer {key}"}

    def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.post(path, json=body, headers={**self.headers, **headers})

    def get(self, path: str) -> Any:
        reply = self.http.get(path, headers=self.headers)
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]

    def balance(self) -> int:
        return int(self.get("/balance")["balance_cents"])

    def ledger(self) -> list[tuple[str, int]]:
        """The wallet's entries, oldest first: (type, cents)."""
        entries = self.get("/billing/transactions?limit=100")
        return [(e["type"], e["amount_cents"]) for e in reversed(entries)]


def _pays_once(seller: Agent, payer: Agent, protocol: str, amount: int) -> dict[str, Any]:
    """The seller's send of ``amount`` refused for funds, its 402 in ``protocol`` paid by the
    payer's wallet, the send retried with the credential and delivered; the credential again
    moves nothing. The payment, as ``POST /payments`` answered it."""
    body = {
        "platform": "claude",
        "amount_cents": amount,
        "recipient_email": f"r-{uuid.uuid4().hex[:8]}@example.com",
    }
    sellers, payers = seller.ledger(), payer.ledger()
    had, paying = seller.balance(), payer.balance()
    refused = seller.post("/topup/send", body)
    assert refused.status_code == 402, refused.text
    offer = "www-authenticate" if protocol == "mpp" else "payment-required"
    challenge = refused.headers[offer]
    if protocol == "mpp":
        assert challenge.startswith("Payment ")

    resource = str(seller.http.base_url.join("topup/send"))
    order = {"url": resource, "challenge": challenge, "description": "the seller's send"}
    made = payer.post("/payments", order, **{"Idempotency-Key": f"pay-{protocol}"})
    assert made.status_code == 201, made.text
    payment = made.json()["data"]
    assert (payment["status"], payment["protocol"]) == ("authorized", protocol)
    paid = payment["amount_cents"]
    assert paid >= amount - had  # what the seller lacked, rounded up as its 402 asked
    assert payer.balance() == paying - paid
    # The agent asks again under its key (a lost reply): the same credential, no second debit.
    asked_again = payer.post("/payments", order, **{"Idempotency-Key": f"pay-{protocol}"})
    assert asked_again.json()["data"] == payment
    assert payer.balance() == paying - paid

    credential = {payment["header"]: payment["value"]}
    sent = seller.post("/topup/send", body, **credential)
    assert sent.status_code == 200, sent.text
    assert (sent.json()["code"], sent.json()["status"]) == (1001, "delivered")
    assert sent.json()["data"]["payment"]["amount_cents"] == paid
    # Credited the payment's amount once (its order paid), then debited the send.
    assert seller.balance() == had + paid - amount
    assert payer.balance() == paying - paid
    seller_entries, payer_entries = seller.ledger(), payer.ledger()
    assert seller_entries[: len(sellers)] == sellers and payer_entries[: len(payers)] == payers
    [credit, debit] = seller_entries[len(sellers) :]
    assert (credit, debit) == (("checkout", paid), ("topup_debit", -amount))
    assert payer_entries[len(payers) :] == [("payment_debit", -paid)]

    # The same credential again, on the same send and on another: nothing more moves.
    for again in (body, {**body, "recipient_email": "again@example.com"}):
        replayed = seller.post("/topup/send", again, **credential)
        assert replayed.status_code == 402, replayed.text
    assert (seller.balance(), payer.balance()) == (had + paid - amount, paying - paid)
    assert (seller.ledger(), payer.ledger()) == (seller_entries, payer_entries)
    return dict(payment)


def _used(payer: Agent, payment_id: str) -> dict[str, Any]:
    """The payment once the worker has learnt the seller used it, within ``USED_WITHIN``."""
    found: dict[str, Any] = {}

    def used() -> bool:
        nonlocal found
        found = payer.get(f"/payments/{payment_id}")
        assert found["status"] in ("authorized", "used"), found
        return bool(found["status"] == "used")

    poll_until(used, within=USED_WITHIN)
    return dict(found)


@pytest.mark.slow
def test_on_a_fresh_make_run_one_merchants_wallet_pays_anothers_402_once(
    tmp_path: Path, private_redis: RedisServer
) -> None:
    """The demo merchant's send refused for funds (its staging wallet empty), paid by another
    merchant's wallet with MPP, then with x402 (staging's facilitator under ``make run``)."""
    port = free_port()
    env = run_env(tmp_path, private_redis, AITOPUP_STAGING_INITIAL_BALANCE_CENTS="0")
    with make_run(tmp_path, env, port) as proc:
        demo_key = started_key(proc)
        _facilitator_said(proc)
        payer_key = _payer_key(tmp_path, env)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}{API}/", timeout=30) as http:
            seller, payer = Agent(http, demo_key), Agent(http, payer_key)
            assert seller.balance() == 0 and payer.balance() == 0
            funded = payer.post("/sandbox/fund", {"amount_cents": FUNDED})
            assert funded.status_code == 200, funded.text

            payments = [_pays_once(seller, payer, "mpp", 1150)]
            payments.append(_pays_once(seller, payer, "x402", 1234))
            paid = sum(p["amount_cents"] for p in payments)
            for payment in payments:
                used = _used(payer, payment["id"])
                assert used["used_cents"] == payment["amount_cents"]
            # The seller took all of each: nothing released, each debited once.
            assert payer.balance() == FUNDED - paid
            assert payer.ledger() == [
                ("sandbox_fund", FUNDED),
                *(("payment_debit", -p["amount_cents"]) for p in payments),
            ]
            assert seller.balance() == paid - 1150 - 1234
