"""``aitopup users invite``: a user added to a merchant, with a one-time link."""

import argparse
import asyncio
import sys
from typing import Any

from ..local_gateway import recall_url
from ..merchants import directory
from ..merchants import service as merchants
from ..operator import UnknownMerchant, command_store
from ..values.settings import Settings, load_settings
from .texts import named

__all__ = ["invite_user"]


async def _invite(
    settings: Settings, merchant_id: str, email: str, base_url: str, role: str
) -> Any:
    from ..accounts.invitations import InviteData, invite

    async with command_store(settings) as db:
        found = (await directory.merchant(db, merchant_id)).data
        if not isinstance(found, merchants.MerchantInfo):
            raise UnknownMerchant(merchant_id)
        invited = await invite(db, found.id, email, base_url, role=role)
        return found, invited.one(InviteData)


def invite_user(args: argparse.Namespace) -> int:
    from ..accounts.fields import AccountError

    settings = load_settings()
    base = args.base_url or settings.public_base_url or recall_url() or "http://127.0.0.1:8000"
    try:
        merchant, invited = asyncio.run(
            _invite(settings, args.merchant, args.email, base, args.role)
        )
    except (AccountError, UnknownMerchant) as exc:
        print(f"aitopup users invite: {exc}", file=sys.stderr)
        return 2
    if invited.pending:
        print(
            f"user {invited.email} ({invited.user_id}) is invited to {named(merchant)}"
            f" as {invited.role}"
        )
        print("they have an account: they join once they accept it, signed in, through this")
        print(f"one-time link; send it to {invited.email} (until {invited.expires_at}):")
        print(invited.accept_url)
        return 0
    print(
        f"user {invited.email} ({invited.user_id}) belongs to {named(merchant)} as {invited.role}"
    )
    if invited.set_password_url is None:
        print("they already belonged to it: nothing changed")
        return 0
    print(f"one-time link to set their password (until {invited.expires_at}):")
    print(invited.set_password_url)
    return 0
