"""``aitopup checkin config``: the daily check-in's settings, read and set."""

import argparse
import asyncio
import sys

from pydantic import ValidationError

from ..admin import checkin as checkin_config
from ..admin.audit import Call
from ..billing.checkin.schemas import CheckInConfigs, CheckInConfigUpdate
from ..operator import command_store
from ..values.settings import Settings, load_settings
from .texts import problems

__all__ = ["checkin"]


async def _checkin_config(settings: Settings, update: CheckInConfigUpdate | None) -> CheckInConfigs:
    async with command_store(settings) as db:
        if update is not None:
            # Audited as the admin API's change is, the actor named ``cli``.
            call = Call("cli", "checkin.config.set", "CLI", "aitopup checkin config", None)
            await checkin_config.set_config(db, call, update)
        return (await checkin_config.configs(db)).one(CheckInConfigs)


def checkin(args: argparse.Namespace) -> int:
    """Print both environments' check-in settings; with --env, first set that one's."""
    settings = load_settings()
    update = None
    if args.env is not None:
        given = {"enabled": args.enabled, "min_cents": args.min_cents, "max_cents": args.max_cents}
        missing = [name for name, value in given.items() if value is None]
        if missing:
            print(f"aitopup checkin config --env: also give {', '.join(missing)}", file=sys.stderr)
            return 2
        try:
            # The rule every door keeps: 0 < min <= max <= AITOPUP_MAX_TOPUP_CENTS.
            update = CheckInConfigUpdate.model_validate(
                {"env": args.env, **given}, context={"max_topup_cents": settings.max_topup_cents}
            )
        except ValidationError as exc:
            print(f"aitopup checkin config: {problems(exc)}", file=sys.stderr)
            return 2
    found = asyncio.run(_checkin_config(settings, update))
    for each in (found.staging, found.live):
        state = "on" if each.enabled else "off"
        since = each.updated_at or "default"
        print(f"{each.env}: {state}, {each.min_cents} to {each.max_cents} cents ({since})")
    return 0
