"""``aitopup freeze`` and ``aitopup unfreeze``: the kill switch from the gateway's machine, as
``POST /freeze`` and ``DELETE /freeze`` are, the actor named ``the operator (cli)``."""

import argparse
import sys

from ..freezes.schemas import Held
from ..operator import UnknownMerchant, switch_freeze
from ..values.settings import load_settings

__all__ = ["freeze", "unfreeze"]


def _run(args: argparse.Namespace, on: bool) -> int:
    command = "freeze" if on else "unfreeze"
    held: Held | None = None
    if on:
        held = "cancel" if args.held == "cancel" else "keep"
    try:
        state = switch_freeze(load_settings(), args.merchant, args.env, held)
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
