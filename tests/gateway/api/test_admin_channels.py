"""The operator's payment channels: listed with what each can do and its credentials masked, set
per environment (credentials sealed, a secret left out kept, refusals naming fields and never
values), and every change audited without its credentials."""

import secrets
from typing import ClassVar

import httpx
from sqlalchemy import select

from gateway.billing.channels import registry
from gateway.store.engine import Database
from gateway.store.models import AuditRecord, table_of
from tests.fixtures.acme_pay import API_KEY, WEBHOOK_SECRET, AcmePay, AcmeStandIn

_A = table_of(AuditRecord)


class _Fresh(AcmePay):
    """Acme Pay under a name no earlier test saved a row for."""

    name: ClassVar[str] = f"acme_{secrets.token_hex(6)}"


async def test_channels_are_listed_masked_set_per_env_and_audited(
    admin_client: httpx.AsyncClient, acme_pay: AcmeStandIn, db: Database
) -> None:
    with registry.registered(_Fresh()):
        await _listed_set_and_audited(admin_client, acme_pay, db, _Fresh.name)
    _Fresh.name = f"acme_{secrets.token_hex(6)}"  # the other store's run starts afresh too


async def _listed_set_and_audited(
    admin_client: httpx.AsyncClient, acme_pay: AcmeStandIn, db: Database, channel: str
) -> None:
    listed = (await admin_client.get("/billing/channels")).json()["data"]
    stripe = next(c for c in listed if c["channel"] == "stripe")
    assert stripe["kinds"] == ["checkout", "invoice"] and stripe["can_look_up"]
    assert stripe["credential_fields"] == {
        "secret_key": True,
        "webhook_secret": True,
        "api_base": False,
    }
    # Stripe's settings stand as its credentials while no row is saved.
    live = next(e for e in stripe["envs"] if e["env"] == "live")
    assert (live["source"], live["enabled"], live["configured"]) == ("default", True, True)
    acme = next(c for c in listed if c["channel"] == channel)
    assert acme["notify_url"].endswith(f"/api/public/v1/payment/webhook/{channel}")

    reply = await admin_client.put(f"/billing/channels/{channel}/live", json={"enabled": True})
    assert (reply.status_code, reply.json()["code"]) == (503, 4401)
    bad = {"enabled": True, "credentials": {"api_key": API_KEY, "api_base": ["x"], "x": 1}}
    reply = await admin_client.put(f"/billing/channels/{channel}/live", json=bad)
    assert (reply.status_code, reply.json()["code"]) == (422, 4403)
    assert reply.json()["data"]["fields"] == ["api_base", "webhook_secret", "x"]
    assert API_KEY not in reply.text

    full = {"api_key": API_KEY, "webhook_secret": WEBHOOK_SECRET, "api_base": acme_pay.url}
    body = {"enabled": True, "credentials": full}
    reply = await admin_client.put(f"/billing/channels/{channel}/live", json=body)
    assert reply.status_code == 200, reply.text
    # A new API root alone keeps the saved secrets.
    body = {"enabled": True, "credentials": {"api_base": "http://127.0.0.1:9"}}
    reply = await admin_client.put(f"/billing/channels/{channel}/live", json=body)
    assert reply.status_code == 200, reply.text
    live = next(e for e in reply.json()["data"]["envs"] if e["env"] == "live")
    assert live["credentials"] == {
        "api_key": "********",
        "webhook_secret": "********",
        "api_base": "http://127.0.0.1:9",
        "currency": None,
        "rate": None,
        "exponent": 2,
    }
    assert API_KEY not in reply.text and WEBHOOK_SECRET not in reply.text

    for path, code in [
        ("/billing/channels/nowhere/live", 4324),
        ("/billing/channels/sandbox/live", 4325),
        (f"/billing/channels/{channel}/prod", 3001),
    ]:
        reply = await admin_client.put(path, json={"enabled": True})
        assert reply.json()["code"] == code, (path, reply.text)

    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(_A.c.details, _A.c.code)
                .where(_A.c.action == "channels.set", _A.c.target_id == channel, _A.c.code == 1000)
                .order_by(_A.c.id.desc())
                .limit(1)
            )
        ).all()
    assert rows[0].details == {
        "channel": channel,
        "env": "live",
        "enabled": True,
        "credentials": ["api_base"],
    }
