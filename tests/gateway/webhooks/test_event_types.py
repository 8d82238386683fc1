"""Every event type is a contract: one table holds its payload's model, description, example
and version, served at ``GET /webhooks/event-types`` and in the OpenAPI document's webhooks."""

import json
from typing import get_args

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest
from pydantic import ValidationError

from gateway import outbox
from gateway.store.engine import Database
from gateway.values.clock import utcnow
from gateway.webhooks import event_docs, event_payloads, event_types
from gateway.webhooks.schemas import EVENT_TYPES, EventType
from tests.fixtures.contracts import broken_events
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.policies import set_policy


def _body(type_: str, data: object) -> str:
    envelope = {"id": "evt_0mk3x7q2a1b2", "type": type_, "created": "2026-11-25T12:00:00Z"}
    return json.dumps({**envelope, "env": "live", "data": data})


def test_the_table_and_the_event_type_literal_agree() -> None:
    assert tuple(spec.name for spec in event_types.EVENTS) == EVENT_TYPES == get_args(EventType)
    assert len(set(EVENT_TYPES)) == len(EVENT_TYPES)


@pytest.mark.parametrize("spec", event_types.EVENTS, ids=lambda spec: spec.name)
def test_each_example_validates_against_its_model_and_its_published_schema(
    spec: event_payloads.EventSpec,
) -> None:
    event_types.validate_body(spec.name, _body(spec.name, spec.example))
    entry = next(e for e in event_docs.event_type_entries() if e.type == spec.name)
    jsonschema.Draft202012Validator(entry.schema_).validate(spec.example)
    whole = event_types.body_model(spec.name).model_json_schema()
    jsonschema.Draft202012Validator(whole).validate(json.loads(_body(spec.name, spec.example)))
    assert spec.description and (spec.version == "v1" or spec.version[:2] == "20")


def test_a_body_that_breaks_its_contract_is_refused() -> None:
    example = event_types.BY_TYPE["balance.low"].example
    with pytest.raises(ValidationError):  # a field the model does not name
        event_types.validate_body("balance.low", _body("balance.low", {**example, "extra": 1}))
    with pytest.raises(ValidationError):  # a number sent as a string
        event_types.validate_body(
            "balance.low", _body("balance.low", {**example, "balance_cents": "450"})
        )
    with pytest.raises(ValidationError):  # the body says another type
        event_types.validate_body("balance.low", _body("webhook.test", example))
    with pytest.raises(KeyError):
        event_types.validate_body("balance.high", _body("balance.high", example))


async def test_the_event_types_are_served_with_schema_and_example(
    client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant("staging")
    reply = await client.get("/webhooks/event-types", headers=merchant.headers)
    assert reply.status_code == 200
    body = reply.json()
    assert (body["success"], body["code"]) == (True, 1000)
    listed = body["data"]
    assert [e["type"] for e in listed] == list(EVENT_TYPES)
    for entry in listed:
        assert set(entry) == {"type", "description", "version", "schema", "example"}
        jsonschema.Draft202012Validator(entry["schema"]).validate(entry["example"])
    low = next(e for e in listed if e["type"] == "balance.low")
    assert low["schema"]["required"] == [
        "balance_cents",
        "threshold_cents",
        "thresholds_cents",
        "low_balance_threshold_cents",
        "currency",
    ]
    # Published open: within v1 an event's data only gains fields, which receivers ignore.
    assert "additionalProperties" not in low["schema"]

    refused = await client.get("/webhooks/event-types")
    assert (refused.status_code, refused.json()["code"]) == (401, 2001)
    sender = await make_merchant("staging")
    await set_policy(db, sender.key_id, {"scopes": ["topup:send"]})
    unscoped = await client.get("/webhooks/event-types", headers=sender.headers)
    assert (unscoped.status_code, unscoped.json()["code"]) == (403, 2301)


async def test_the_openapi_webhooks_carry_each_type_from_the_same_models(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    webhooks = spec["webhooks"]
    assert list(webhooks) == list(EVENT_TYPES)
    components = {"components": spec["components"]}
    for spec_ in event_types.EVENTS:
        post = webhooks[spec_.name]["post"]
        assert post["summary"] == spec_.description
        headers = {p["name"] for p in post["parameters"] if p["in"] == "header"}
        assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= headers
        assert "X-AiTopUp-Signature" in headers
        content = post["requestBody"]["content"]["application/json"]
        # The body's schema, resolved inside the document, accepts the example and the type's
        # own name only.
        schema = {**content["schema"], **components}
        jsonschema.Draft202012Validator(schema).validate(content["example"])
        other = {**content["example"], "type": "not." + spec_.name}
        assert not jsonschema.Draft202012Validator(schema).is_valid(other)


async def test_an_event_of_an_unknown_type_or_a_drifted_body_fails_the_test_that_wrote_it(
    db: Database, make_merchant: MakeMerchant, written_events: set[str]
) -> None:
    merchant = await make_merchant("staging")
    wrong = {
        "balance.high": {"balance_cents": 1},
        "balance.low": {"balance_cents": 1, "currency": "USD"},  # the threshold left out
    }
    made = []
    async with db.transaction() as conn:
        for type_, data in wrong.items():
            event_id = outbox.new_event_id()
            await outbox.emit(
                conn,
                env="staging",
                merchant_id=merchant.merchant_id,
                type_=type_,
                data=data,
                now=utcnow(),
                event_id=event_id,
            )
            made.append(event_id)
    assert set(made) <= written_events
    broken = await broken_events(db, made)
    assert len(broken) == 2
    assert any("unknown event type 'balance.high'" in line for line in broken)
    assert any("low_balance_threshold_cents" in line for line in broken)
    # Made on purpose: this test's teardown would fail on them otherwise.
    written_events.difference_update(made)
