"""``aitopup channels``: payment channels per environment, as the admin API keeps them."""

import argparse
import asyncio
import json
import sys

from pydantic import ValidationError

from ..admin import channels as channel_admin
from ..admin.audit import Call
from ..billing.channels.schemas import ChannelAdminData, ChannelSet
from ..operator import command_store

# The protocols' channels (an agent's 402) are registered by their registry: listed and set
# here as every channel is.
from ..protocols import registry as _protocols  # noqa: F401
from ..values.outcome import ApiError
from ..values.settings import Settings, load_settings
from .texts import problems

__all__ = ["list_channels", "set_channel"]


def _channel_lines(channel: ChannelAdminData) -> list[str]:
    lines = [f"{channel.channel}  {channel.title}  ({', '.join(channel.kinds)})"]
    for env in channel.envs:
        state = "enabled" if env.enabled else "disabled"
        ready = "credentials set" if env.configured else "no credentials"
        lines.append(f"  {env.env}: {state}, {ready}, through {env.through} ({env.source})")
    return lines


async def _channels(settings: Settings, change: tuple[str, str, ChannelSet] | None) -> list[str]:
    async with command_store(settings) as db:
        if change is not None:
            # Audited as the admin API's is, the actor named ``cli``.
            call = Call("cli", "channels.set", "CLI", "aitopup channels set", None)
            done = await channel_admin.set_channel(db, settings, call, *change)
            return _channel_lines(done.one(ChannelAdminData))
        found = (await channel_admin.list_channels(db, settings)).many(ChannelAdminData)
        return [line for channel in found for line in _channel_lines(channel)]


def list_channels(args: argparse.Namespace) -> int:
    """Every payment channel, and how each environment has it (never a credential)."""
    for line in asyncio.run(_channels(load_settings(), None)):
        print(line)
    return 0


def set_channel(args: argparse.Namespace) -> int:
    """A channel offered in an environment or not; credentials as a JSON object read from a
    file or standard input (``-``), never from the command line, where a shell keeps it."""
    credentials = None
    if args.credentials_from is not None:
        try:
            if args.credentials_from == "-":
                text = sys.stdin.read(64 * 1024)
            else:
                with open(args.credentials_from, encoding="utf-8") as given:
                    text = given.read(64 * 1024)
            credentials = json.loads(text)
        except (OSError, ValueError):
            print("aitopup channels set: the credentials are not a JSON object", file=sys.stderr)
            return 2
    try:
        body = ChannelSet.model_validate({"enabled": args.enabled, "credentials": credentials})
        lines = asyncio.run(_channels(load_settings(), (args.channel, args.env, body)))
    except ValidationError as exc:
        print(f"aitopup channels set: {problems(exc)}", file=sys.stderr)
        return 2
    except ApiError as exc:
        fields = (exc.data or {}).get("fields")
        said = exc.message or exc.code.name
        print(f"aitopup channels set: {said}{f' ({fields})' if fields else ''}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0
