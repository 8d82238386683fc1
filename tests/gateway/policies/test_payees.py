"""A policy's payees: ``allowed_payees`` (origins and the names protocols give payees) in one
canonical form, bounded; ``per_payee_limit`` as ``per_recipient_limit`` is; both narrowed as
every field is (a key a key makes, a template), and shown where a key reads its own policy."""

import dataclasses
import json
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from starlette.datastructures import FormData

from gateway.dashboard import policy_form
from gateway.policies import payees
from gateway.policies.model import Policy
from gateway.policies.payees import MAX_PAYEE, admits, canonical, origin_of
from gateway.policies.templates import effective
from gateway.store.engine import Database
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy

EVM = "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01"


def _policy(**fields: Any) -> Policy:
    return Policy.model_validate_json(json.dumps(fields))


def test_payees_are_kept_in_one_canonical_form() -> None:
    policy = _policy(
        allowed_payees=[
            "HTTPS://Seller.Example:443/",
            "https://seller.example",
            "http://shop.example:8080",
            "https://[::1]:8443",
            "api.seller.example",
            EVM,
        ]
    )
    assert policy.allowed_payees == (
        "https://seller.example",
        "http://shop.example:8080",
        "https://[::1]:8443",
        "api.seller.example",
        EVM.lower(),
    )
    assert origin_of("https://Seller.example:443/v1/x?y=1") == "https://seller.example"
    allowed = policy.allowed_payees or ()
    pays_to = f"x402:eip155:8453:0xa0b8:{EVM}"
    assert canonical(pays_to) == pays_to.lower()  # its EVM addresses in lower case
    # Its destination, or a bare name of it, admits a payment whatever url it names.
    assert admits(allowed, "https://other.example", "x402:eip155:8453:0xa0b8:0x1", [EVM])
    assert admits([canonical(pays_to)], "https://other.example", pays_to.lower(), []) == (
        "destination"
    )
    # An origin admits only what is bound to it (the caller asks); a name is not a destination.
    assert admits(allowed, "https://seller.example", "tally:x", []) == "origin"
    assert admits(allowed, "https://other.example", "tally:x", ["API.seller.example"]) is None


@pytest.mark.parametrize(
    "payees",
    [
        ["https://seller.example/path"],
        ["https://seller.example?x=1"],
        ["https://user@seller.example"],
        ["ftp://seller.example"],
        ["two words"],
        ["line\nbreak"],
        [""],
        ["x" * (MAX_PAYEE + 1)],
        [f"payee-{n}" for n in range(101)],
    ],
)
def test_a_payee_out_of_shape_is_refused(payees: list[str]) -> None:
    with pytest.raises(ValidationError):
        _policy(allowed_payees=payees)


BOUND = _policy(
    allowed_payees=["https://seller.example", "acct_x"],
    per_payee_limit={"amount_cents": 500, "interval": "monthly"},
)


@pytest.mark.parametrize(
    ("fields", "wider"),
    [
        ({}, ("allowed_payees", "per_payee_limit")),
        (
            {
                "allowed_payees": ["acct_x"],
                "per_payee_limit": {"amount_cents": 400, "interval": "monthly"},
            },
            (),
        ),
        (
            {
                "allowed_payees": ["acct_x", "https://other.example"],
                "per_payee_limit": {"amount_cents": 500, "interval": "all_time"},
            },
            ("allowed_payees",),
        ),
        (
            {
                "allowed_payees": ["acct_x"],
                "per_payee_limit": {"amount_cents": 400, "interval": "daily"},
            },
            ("per_payee_limit",),
        ),
    ],
)
def test_a_key_may_narrow_its_makers_payees_never_widen_them(
    fields: dict[str, Any], wider: tuple[str, ...]
) -> None:
    assert _policy(**fields).beyond(BOUND) == wider


def test_a_template_bounds_a_keys_payees() -> None:
    own = _policy(
        allowed_payees=["acct_x", "https://other.example"],
        per_payee_limit={"amount_cents": 900, "interval": "monthly"},
    )
    merged = effective(own, BOUND)
    assert merged.allowed_payees == ("acct_x",)
    assert merged.per_payee_limit == BOUND.per_payee_limit
    assert effective(_policy(), BOUND).allowed_payees == BOUND.allowed_payees


def test_the_dashboards_form_keeps_a_policys_payees() -> None:
    """A key edited on the dashboard keeps what its payees were: the form shows them and reads
    them back."""
    shown = policy_form.to_form(BOUND, "k")
    typed = FormData(
        [
            (name, str(value))
            for name, value in shown.items()
            if name in ("name", "allowed_payees", "per_payee_amount", "per_payee_interval")
        ]
    )
    _, read = policy_form.from_form(typed)
    assert read.allowed_payees == BOUND.allowed_payees
    assert read.per_payee_limit == BOUND.per_payee_limit


async def test_a_key_reads_and_is_given_its_payees_through_the_api(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    maker = await make_merchant()
    bound = {
        "scopes": ["keys", "payments:send"],
        "allowed_payees": ["https://seller.example"],
        "per_payee_limit": {"amount_cents": 500, "interval": "daily"},
    }
    await set_policy(db, maker.key_id, bound)
    shown = (await client.get("/keys/self", headers=maker.headers)).json()["data"]["policy"]
    assert shown["allowed_payees"] == ["https://seller.example"]
    assert shown["per_payee_limit"] == {"amount_cents": 500, "interval": "daily"}
    # A key it makes may pay no one else, and no more a payee.
    wider = {**bound, "scopes": ["payments:send"], "allowed_payees": None}
    refused = await client.post("/keys", json={"policy": wider}, headers=maker.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, 2317), refused.text
    assert "allowed_payees" in refused.json()["data"]["fields"]
    within = {**bound, "scopes": ["payments:send"]}
    made = await client.post("/keys", json={"policy": within}, headers=maker.headers)
    assert made.status_code == 201, made.text
    assert made.json()["data"]["policy"]["allowed_payees"] == ["https://seller.example"]


def test_an_origin_admits_a_destination_bound_to_it_or_met_there() -> None:
    """``judge``: a destination named is admitted outright; an origin named alone asks for a
    binding unless the gateway met the challenge at that origin itself; anything else is
    refused."""
    allowed = ("https://seller.example", "tally:acct_named")
    stated = payees.Payee("https://seller.example", "tally:acct_other")
    assert payees.judge(allowed, stated) is True  # held unless bound
    assert payees.judge(allowed, dataclasses.replace(stated, proven=True)) is False
    assert payees.judge(allowed, payees.Payee("https://x.example", "tally:acct_named")) is False
    assert payees.judge(None, stated) is False
    with pytest.raises(ApiError) as refused:
        payees.judge(allowed, payees.Payee("https://x.example", "tally:acct_other"))
    assert refused.value.code == Code.KEY_PAYEE_NOT_ALLOWED
