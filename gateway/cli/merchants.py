"""``aitopup merchants``: make and list merchants."""

import argparse
import asyncio
import json
import sys

from ..merchants import directory
from ..merchants import service as merchants
from ..merchants.names import check_name
from ..operator import command_store, create_merchant
from ..values.settings import Settings, load_settings
from .texts import named

__all__ = ["manage_merchants"]


def manage_merchants(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.merchants_command == "create":
        try:
            name = check_name(args.name)  # the rule every door keeps
        except ValueError as refused:
            print(f"aitopup merchants create: {refused}", file=sys.stderr)
            return 2
        made = create_merchant(settings, name)
        print(f"created {named(made)}")
        # Approvals, alerts and a held send's or payment's mail go to its people: it has none.
        print(
            "it has no people yet: held sends and payments, and its alerts, are mailed to "
            f"nobody until one is invited (aitopup users invite --merchant {made.id} "
            "--email ADDRESS)"
        )
        print(made.id)
        return 0
    for each in asyncio.run(_list_merchants(settings)):
        print(f"{each.id}  {json.dumps(each.name)}")
    return 0


async def _list_merchants(settings: Settings) -> list[merchants.MerchantInfo]:
    async with command_store(settings) as db:
        return (await directory.all_merchants(db)).many(merchants.MerchantInfo)
