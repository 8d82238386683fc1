"""``aitopup freeze`` and ``aitopup unfreeze``: the kill switch from the gateway's machine, as
``POST /freeze`` and ``DELETE /freeze`` are, the actor named ``cli``."""

import argparse
import asyncio
import sys

from keys import Sealer

from ..freezes import service as freezes
from ..freezes.schemas import FreezeData, FreezeRequest
from ..operator import UnknownMerchant, command_store, merchant_with_id
from ..values.settings import Settings, load_settings

__all__ = ["freeze", "unfreeze"]


async def _switch(settings: Settings, args: argparse.Namespace, on: bool) -> FreezeData:
    sealer = Sealer(settings.secret_key.get_secret_value().encode())
    who = freezes.Freezer(args.merchant, args.env, "the operator (cli)")
    per_hour = settings.webhook_operational_events_per_hour
    async with command_store(settings) as db:
        async with db.read() as conn:
            await merchant_with_id(conn, args.merchant)
        if on:
            asked = FreezeRequest(held=args.held)
            done = await freezes.freeze(db, sealer, who, asked, per_hour=per_hour)
        else:
            done = await freezes.unfreeze(db, sealer, who, per_hour=per_hour)
    return done.one(FreezeData)


def _run(args: argparse.Namespace, on: bool) -> int:
    command = "freeze" if on else "unfreeze"
    try:
        state = asyncio.run(_switch(load_settings(), args, on))
    except UnknownMerchant as exc:
        print(f"aitopup {command}: {exc}", file=sys.stderr)
        return 2
    if state.frozen:
        cancelled = f"; {state.held_cancelled} held send(s) cancelled" if on else ""
        print(f"{args.merchant} {state.env}: frozen since {state.frozen_at}{cancelled}")
    else:
        print(f"{args.merchant} {state.env}: not frozen")
    return 0


def freeze(args: argparse.Namespace) -> int:
    """Freeze a merchant's environment: every key, consent and app token of it refused."""
    return _run(args, True)


def unfreeze(args: argparse.Namespace) -> int:
    """Undo the freeze: everything works again as before."""
    return _run(args, False)
