"""``aitopup treasury``: the operator's treasury per environment and rail, read and set."""

import argparse
import asyncio
import json
import sys
from typing import Any

from pydantic import ValidationError

from keys import Sealer

from ..admin import treasury
from ..admin.audit import Call
from ..operator import command_store
from ..protocols import registry
from ..sellers import reconcile
from ..sellers.treasury import RailSet
from ..values.clock import utcnow
from ..values.settings import Settings, load_settings
from ..values.treasury_settings import network_name, payer_key_context
from .texts import problems

__all__ = ["treasury_command"]

# The rail whose treasury key is kept per network, sealed, in the settings.
SEALED_PAYER = "x402"


async def _treasury(settings: Settings, update: RailSet | None) -> list[Any]:
    async with command_store(settings) as db:
        if update is not None:
            # Audited as the admin API's change is, the actor named ``cli``.
            call = Call("cli", "treasury.set", "CLI", "aitopup treasury", None)
            await treasury.set_rail(db, settings, call, update)
        found = await treasury.rails(db, settings)
    return list(found.data)


def _cents(value: int | None) -> str:
    return "unbounded" if value is None else f"{value}"


async def _reconciled(settings: Settings) -> list[reconcile.Drift]:
    async with command_store(settings) as db:
        sealer = Sealer(settings.secret_key.get_secret_value().encode())
        return await reconcile.drifts(db, sealer, settings, utcnow())


def _seal(settings: Settings, network: str) -> int:
    """The key read from standard input (none: a new one) sealed for ``network``, printed as the
    JSON member ``AITOPUP_TREASURY_X402_KEYS`` takes, and its address, which the operator funds.
    The key itself is never printed."""
    if network_name(network) is None:
        print("aitopup treasury: NETWORK is a CAIP-2 network, such as eip155:8453", file=sys.stderr)
        return 2
    given = sys.stdin.readline().strip() or None
    payer = registry.payer(SEALED_PAYER)
    assert payer is not None
    try:
        key = payer.own_key(given)
    except ValueError as exc:
        print(f"aitopup treasury: {exc}", file=sys.stderr)
        return 2
    sealer = Sealer(settings.secret_key.get_secret_value().encode())
    sealed = sealer.seal(key.secret, context=payer_key_context(network))
    print(json.dumps({network: sealed}))
    print(f"address {key.address}", file=sys.stderr)
    return 0


def treasury_command(args: argparse.Namespace) -> int:
    """Print every rail's treasury; with --env and --protocol, first set its float and level;
    with --reconcile, the payments out where the provider and the ledger disagree (exit 1)."""
    settings = load_settings()
    if args.seal_network is not None:
        return _seal(settings, args.seal_network)
    if args.reconcile:
        drifted = asyncio.run(_reconciled(settings))
        for d in drifted:
            print(f"{d.env} {d.protocol} {d.payment_id}: ledger {d.ledger}, provider {d.provider}")
        print(f"{len(drifted)} drift(s)")
        return 1 if drifted else 0
    update = None
    if args.env is not None or args.protocol is not None:
        given = {
            "env": args.env,
            "protocol": args.protocol,
            "float_cents": args.float_cents,
            "low_cents": args.low_cents,
        }
        missing = [name for name, value in given.items() if value is None]
        if missing:
            print(f"aitopup treasury: also give {', '.join(missing)}", file=sys.stderr)
            return 2
        try:
            update = RailSet.model_validate(given)
        except ValidationError as exc:
            print(f"aitopup treasury: {problems(exc)}", file=sys.stderr)
            return 2
    for rail in asyncio.run(_treasury(settings, update)):
        level = " LOW" if rail.low else ""
        instrument = "" if rail.instrument else ", no instrument set"
        print(
            f"{rail.env} {rail.protocol}: float {_cents(rail.float_cents)}, "
            f"out {rail.outstanding_cents}, available {_cents(rail.available_cents)}{level}; "
            f"paid out {rail.paid_out_cents}, used {rail.used_cents}, "
            f"released {rail.released_cents} cents{instrument}"
        )
        if rail.low_told_at is not None:
            print(f"  below its level: the operator told at {rail.low_told_at}")
        if rail.reconciled_at is not None:
            balance = "" if rail.provider_cents is None else f", provider {rail.provider_cents}"
            print(f"  reconciled at {rail.reconciled_at}: {rail.drifts} drift(s){balance}")
    return 0
