"""The demo ``make run`` gives a newcomer: staging seeded with the demo plans and every
channel's sandbox, a demo merchant with a fresh staging key each start, and the welcome printed
once the gateway answers, with a one-time link to that merchant's dashboard."""

import asyncio
from typing import Any

from .local_gateway import DATA_DIR
from .merchants.service import MerchantInfo
from .values.marking import marked
from .values.settings import Settings

__all__ = [
    "DEMO_EMAIL",
    "DEMO_KEY_FILE",
    "DEMO_MERCHANT_FILE",
    "DEMO_PLANS",
    "SEED_ACTOR",
    "demo_key",
    "demo_sign_in",
    "seed_staging",
    "welcome",
]

# The demo merchant's id: found again by what this machine wrote, never by a name (anyone who
# signs up may pick the name "demo").
DEMO_MERCHANT_FILE = DATA_DIR / "demo-merchant"
# The demo merchant's owner, whose one-time sign-in link ``make run`` prints.
DEMO_EMAIL = "demo@example.com"
# The key the last start printed, revoked by the next: the demo's keys never pile up toward the
# cap, however often ``make run`` starts.
DEMO_KEY_FILE = DATA_DIR / "demo-key"
# The plans staging starts with, as the billing API's own example lists them (cents, USD; the
# credit is wallet cents each paid period), each under an id of its own so a second start finds
# it and adds nothing: an operator who changes or stops selling one keeps that choice. Its text
# is marked, so a page shows it in the reader's words (``said``).
DEMO_PLANS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "plan_demo_pro",
        {
            "name": "Pro",
            "description": marked("For growing teams"),
            "price_monthly": 999,
            "price_yearly": 9990,
            "credits_included": 10000,
            "features": [marked("Unlimited AI chat"), marked("Priority support")],
        },
    ),
)
# Who the audit log says made the seeds.
SEED_ACTOR = "make run"


def demo_key(settings: Settings) -> tuple[MerchantInfo, str]:
    """A fresh staging key for this machine's demo merchant: the one whose id
    ``DEMO_MERCHANT_FILE`` holds, made (and its id written there) when there is none yet or the
    store no longer has it. The key the last start printed (``DEMO_KEY_FILE``) is revoked
    first."""
    from .operator import create_key, create_merchant, find_merchant, revoke_key

    remembered = DEMO_MERCHANT_FILE.read_text().strip() if DEMO_MERCHANT_FILE.exists() else ""
    merchant = find_merchant(settings, remembered) if remembered else None
    if merchant is None:
        merchant = create_merchant(settings, "demo")
        DATA_DIR.mkdir(exist_ok=True)
        DEMO_MERCHANT_FILE.write_text(merchant.id + "\n")
    printed_before = DEMO_KEY_FILE.read_text().strip() if DEMO_KEY_FILE.exists() else ""
    if printed_before:
        revoke_key(settings, printed_before)
    _, key_id, key = create_key(settings, "staging", merchant.id)
    DEMO_KEY_FILE.write_text(key_id + "\n")
    return merchant, key


async def _demo_sign_in(settings: Settings, merchant_id: str, base: str) -> tuple[str, str] | None:
    """A one-time link that signs a person in to the demo merchant's dashboard as its owner,
    and until when it works: a new demo user's link to set a password (an invitation), or, once
    it has one, a password reset link; single use and stored hashed, as those links always
    are. ``None`` if ``DEMO_EMAIL`` is someone else's account (it would not join)."""
    from .accounts.invitations import InviteData, invite
    from .accounts.resets import issue_reset
    from .mail.links import reset_url
    from .operator import command_store
    from .values.clock import rfc3339

    async with command_store(settings) as db:
        invited = (await invite(db, merchant_id, DEMO_EMAIL, base, role="owner")).one(InviteData)
        if invited.set_password_url is not None and invited.expires_at is not None:
            return invited.set_password_url, invited.expires_at
        if invited.pending:
            return None
        issued = await issue_reset(db, settings, invited.email)
        if issued is None:
            return None
        token, expires = issued
        return reset_url(base, token), rfc3339(expires)


def demo_sign_in(settings: Settings, merchant_id: str, base: str) -> tuple[str, str] | None:
    return asyncio.run(_demo_sign_in(settings, merchant_id, base))


def welcome(settings: Settings, root: str) -> str:
    """What ``make run`` prints once its gateway answers at ``root``: the demo merchant's fresh
    staging key, a one-time link that signs in to that merchant's dashboard (where the top-ups
    sent with the key show), and a send to try."""
    merchant, key = demo_key(settings)
    base = f"{root}/api/public/v1"
    link = demo_sign_in(settings, merchant.id, settings.public_base_url or root)
    if link is None:
        sign_in = f"dashboard: {root}/dashboard/ (sign up there)"
    else:
        url, until = link
        sign_in = (
            f"dashboard of merchant {merchant.name}, as {DEMO_EMAIL} (one-time sign-in link, "
            f"until {until}; choose a password there):\n{url}"
        )
    send = (
        f"curl -X POST {base}/topup/send -H 'Authorization: Bearer {key}' "
        "-H 'Content-Type: application/json' "
        '-d \'{"platform": "claude", "amount_cents": 1000, '
        '"recipient_email": "user@example.com"}\''
    )
    return (
        f"\naiTopUp gateway: {base}\nstaging key (merchant {merchant.name}, {merchant.id}): "
        f"{key}\n{sign_in}\n\n{send}\n"
    )


async def _seed_staging(settings: Settings) -> list[str]:
    from .admin import channels as channel_admin
    from .admin import plans as plan_admin
    from .admin.audit import Call
    from .billing.channels import offering, registry
    from .billing.channels.schemas import ChannelSet
    from .billing.subscriptions.schemas import PlanAdminData, PlanCreate
    from .operator import command_store

    added: list[str] = []
    async with command_store(settings) as db:
        rows = await offering.channel_rows(db, "staging")
        for provider in registry.all_providers():
            saved = rows.get((provider.name, "staging"))
            # A channel with no page of its own (an agent's 402) has no sandbox to stand in.
            if saved is not None or not provider.kinds:
                continue
            if offering.is_enabled(settings, provider, "staging", None):
                continue
            call = Call(SEED_ACTOR, "channels.set", "CLI", "aitopup run", None)
            body = ChannelSet(enabled=True)
            await channel_admin.set_channel(db, settings, call, provider.name, "staging", body)
            added.append(f"channel {provider.name}")
        known = {p.id for p in (await plan_admin.list_plans(db, None)).many(PlanAdminData)}
        for plan_id, shape in DEMO_PLANS:
            if plan_id in known:
                continue
            call = Call(SEED_ACTOR, "plans.create", "CLI", "aitopup run", None)
            made = PlanCreate(env="staging", **shape)
            await plan_admin.create_plan(db, settings, call, made, plan_id=plan_id)
            added.append(f"plan {shape['name']}")
    return added


def seed_staging(settings: Settings) -> list[str]:
    """Staging as a newcomer expects it: the demo plans on sale and every channel's sandbox
    offered, each written once (with an audit line) where the operator has made no choice yet:
    a channel with no saved row, a plan whose id no row holds. What it added, by name."""
    return asyncio.run(_seed_staging(settings))
