"""An endpoint's health as rows: each change is one conditional write, so recording it twice
(two workers seeing the same failure) writes its event, or its owners' mails, once. On both
stores."""

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import func, select, update

from gateway.mail.alerts import mail_owners, shown_url
from gateway.store.engine import Database
from gateway.store.models import Event, Mail, WebhookEndpoint, table_of
from gateway.store.raw import raw
from gateway.values.clock import utcnow
from gateway.webhooks import health
from keys import Sealer
from tests.fixtures.core import TEST_SECRET
from tests.fixtures.merchants import MakeMerchant, add_member
from tests.fixtures.webhooks import make_endpoint

_EP = table_of(WebhookEndpoint)
_E = table_of(Event)
_M = table_of(Mail)


def test_a_mail_shows_an_endpoint_without_what_may_carry_a_token() -> None:
    assert shown_url("https://user:pw@hooks.example:8443/in?token=s3cret#x") == (
        "https://hooks.example:8443/in"
    )
    assert shown_url("http://[::1]/a/b?k=v") == "http://[::1]/a/b"


async def test_each_change_of_health_is_written_once(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    merchant = await make_merchant()
    owner = await add_member(db, merchant.merchant_id)
    about = await make_endpoint(hook_client, merchant, "http://127.0.0.1:9/a")
    await make_endpoint(
        hook_client, merchant, "http://127.0.0.1:9/b", event_types=["endpoint.failing"]
    )
    now = utcnow()
    attempted = health.Attempted(about["id"], "dlv_x" + about["id"], now, 500, "HTTP 500")
    sealer = Sealer(TEST_SECRET.encode())
    async with db.transaction() as conn:
        tx = await raw(conn)
        told = await health.started_failing(tx, attempted, 3600, 60)
        again = await health.started_failing(tx, attempted, 3600, 60)
    assert len(told) == 1 and again == []  # to the other endpoint only, once

    async with db.transaction() as conn:
        await conn.execute(
            update(_EP)
            .where(_EP.c.id == about["id"])
            .values(failing_since=now - timedelta(seconds=1801))
        )
    async with db.transaction() as conn:
        tx = await raw(conn)
        alert = await health.warned(tx, about["id"], 3600, now)
        assert alert is not None and alert.kind == "failing"
        assert await health.warned(tx, about["id"], 3600, now) is None
        mails = await mail_owners(tx, sealer, alert, now)
    assert len(mails) == 1

    async with db.read() as conn:
        events = (
            await conn.execute(
                select(_E.c.type, func.count())
                .where(_E.c.merchant_id == merchant.merchant_id)
                .group_by(_E.c.type)
            )
        ).all()
        [mail] = (await conn.execute(select(_M).where(_M.c.id == mails[0]))).all()
    assert dict((t, n) for t, n in events) == {"endpoint.failing": 1}
    assert mail.kind == "endpoint_failing" and mail.env is None and mail.status == "queued"
    assert sealer.open(mail.to_sealed, context=mail.id) == owner
    assert "127.0.0.1" not in (mail.data_sealed or "")  # sealed, not in clear

    # A success clears the clock and the warning with it: the next run is warned of afresh.
    async with db.transaction() as conn:
        tx = await raw(conn)
        await health.recovered(tx, about["id"], now, now, 60)
        await health.recovered(tx, about["id"], now, now, 60)
    async with db.read() as conn:
        row = (await conn.execute(select(_EP).where(_EP.c.id == about["id"]))).one()
        recovered = (
            await conn.execute(
                select(func.count()).where(
                    _E.c.merchant_id == merchant.merchant_id, _E.c.type == "endpoint.recovered"
                )
            )
        ).scalar_one()
    assert row.failing_since is None and row.failing_warned_at is None
    assert recovered == 1


async def test_two_workers_seeing_the_same_first_failure_tell_of_it_once(
    hook_client: httpx.AsyncClient, make_merchant: MakeMerchant, db: Database
) -> None:
    """Concurrent transactions, as two workers recording failures of one endpoint at once: the
    conditional write lets one start the clock, and only that one writes the event."""
    merchant = await make_merchant()
    about = await make_endpoint(hook_client, merchant, "http://127.0.0.1:9/a")
    await make_endpoint(hook_client, merchant, "http://127.0.0.1:9/b")
    now = utcnow()

    async def record(n: int) -> list[str]:
        attempted = health.Attempted(about["id"], f"dlv_{n}" + about["id"], now, 500, None)
        async with db.transaction() as conn:
            return await health.started_failing(await raw(conn), attempted, 3600, 60)

    told = await asyncio.gather(*(record(n) for n in range(4)))
    assert sorted(len(t) for t in told) == [0, 0, 0, 1]
    async with db.read() as conn:
        found = select(func.count()).where(
            _E.c.merchant_id == merchant.merchant_id, _E.c.type == "endpoint.failing"
        )
        assert (await conn.execute(found)).scalar_one() == 1
