"""The owners' mail of a freeze and of its end: one per owner, nothing secret in it, saying
which environment, who, what became of held sends, and linking to the kill switch page."""

from sqlalchemy import select

from gateway.freezes import hands
from gateway.freezes import service as freezes
from gateway.freezes.schemas import FreezeData, FreezeRequest
from gateway.mail.content import compose
from gateway.store.engine import Database
from gateway.store.models import Mail, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from gateway.webhooks.health import within_operational_count
from keys import Sealer
from tests.fixtures.merchants import MakeMerchant, add_member
from tests.fixtures.webhooks import events_of, spend_operational_bound

_M = table_of(Mail)


async def test_each_owner_is_told_of_the_freeze_and_of_its_end(
    db: Database, settings: Settings, make_merchant: MakeMerchant
) -> None:
    sealer = Sealer(settings.secret_key.get_secret_value().encode())
    merchant = await make_merchant("live")
    owners = {await add_member(db, merchant.merchant_id) for _ in range(2)}
    who = freezes.Freezer(merchant.merchant_id, "live", "user ana@shop.example")
    frozen = await freezes.freeze(db, sealer, who, FreezeRequest(held="cancel"))
    assert len(frozen.deliveries) == 2  # a mail each; the merchant has no endpoint
    await freezes.unfreeze(db, sealer, who, hands.OPERATOR)

    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(_M).where(_M.c.merchant_id == merchant.merchant_id).order_by(_M.c.id)
            )
        ).all()
        assert [(r.kind, r.env, r.status) for r in rows] == [
            ("environment_freeze", None, "queued")
        ] * 4
        shown = [
            await compose(
                conn, sealer, row, base_url="https://pay.example", link_ttl_seconds=60, now=utcnow()
            )
            for row in rows
        ]
    messages = [m for m in shown if m is not None]
    assert {m.to for m in messages} == owners
    subjects = sorted(m.rendered.subject for m in messages)
    assert [s.split(" (")[0] for s in subjects] == [
        "Your live environment was frozen",
        "Your live environment was frozen",
        "Your live environment was unfrozen",
        "Your live environment was unfrozen",
    ]
    for message in messages:
        assert message.link == "https://pay.example/dashboard/freeze"
        assert "by user ana@shop.example" in message.rendered.text
        assert message.link in message.rendered.html
    said = " ".join(m.rendered.text for m in messages)
    assert "0 send(s) held for approval were cancelled and refunded" in said
    assert "work again, as they did before the freeze" in said


async def test_every_change_of_the_switch_is_told_past_the_merchants_operational_bound(
    db: Database, settings: Settings, make_merchant: MakeMerchant
) -> None:
    """The bound on operational events protects receivers from a failing merchant's noise; the
    switch protects the merchant, so a change of it is told however much of the bound is
    spent."""
    sealer = Sealer(settings.secret_key.get_secret_value().encode())
    merchant = await make_merchant("staging")
    await add_member(db, merchant.merchant_id)
    per_hour = settings.webhook_operational_events_per_hour
    await spend_operational_bound(db, merchant.merchant_id, "staging", per_hour)
    who = freezes.Freezer(merchant.merchant_id, "staging", "test")
    told = [
        await freezes.freeze(db, sealer, who, FreezeRequest()),
        await freezes.unfreeze(db, sealer, who, hands.OPERATOR),
        await freezes.freeze(db, sealer, who, FreezeRequest()),
        await freezes.freeze(db, sealer, who, FreezeRequest()),  # frozen already: nothing new
    ]
    assert [len(t.deliveries) for t in told] == [1, 1, 1, 0]
    assert told[-1].one(FreezeData).frozen
    async with db.read() as conn:
        kinds = await conn.execute(
            select(_M.c.kind).where(_M.c.merchant_id == merchant.merchant_id)
        )
        assert len(kinds.all()) == 3
    assert len(await events_of(db, merchant.merchant_id, "environment.frozen")) == 2
    assert len(await events_of(db, merchant.merchant_id, "environment.unfrozen")) == 1
    # The bound is still spent for what it bounds.
    assert not await db.run(
        lambda tx: within_operational_count(tx, "staging", merchant.merchant_id, per_hour, utcnow())
    )
