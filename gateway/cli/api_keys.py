"""``aitopup keys``: mint, list and revoke API keys, and set their policy."""

import argparse
import asyncio
import json
import sys

from pydantic import ValidationError

from ..merchants import directory
from ..merchants import service as merchants
from ..merchants.schemas import KeyData
from ..operator import UnknownMerchant, command_store, create_key, revoke_key
from ..policies.model import UNRESTRICTED, Policy
from ..values.clock import rfc3339
from ..values.outcome import ApiError
from ..values.settings import Settings, load_settings
from .texts import named

__all__ = ["manage_keys"]


async def _set_policy(
    settings: Settings, key_id: str, policy: Policy
) -> tuple[merchants.MerchantInfo, KeyData]:
    async with command_store(settings) as db:
        owned = (await directory.set_key_policy(db, key_id, policy)).one(directory.OwnedKey)
    return owned.merchant, owned.key


def _policy(text: str) -> Policy:
    """A policy given as JSON on the command line, or ``SystemExit`` saying what is wrong."""
    try:
        return Policy.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'policy'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        )
        print(f"aitopup keys: the policy is not valid: {problems}", file=sys.stderr)
        raise SystemExit(2) from None


async def _list_keys(settings: Settings) -> list[merchants.KeyInfo]:
    async with command_store(settings) as db:
        return (await directory.all_keys(db)).many(merchants.KeyInfo)


def manage_keys(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.keys_command == "create":
        policy = UNRESTRICTED if args.policy is None else _policy(args.policy)
        try:
            merchant, key_id, raw = create_key(
                settings, args.env, args.merchant, name=args.name, policy=policy
            )
        except UnknownMerchant as exc:
            print(f"aitopup keys create: {exc}", file=sys.stderr)
            return 2
        print(f"{named(merchant)}, key {key_id}, env {args.env}")
        print(raw)
        print("Shown once: store it now.", file=sys.stderr)
        return 0
    if args.keys_command == "list":
        for k in asyncio.run(_list_keys(settings)):
            state = f"revoked {rfc3339(k.revoked_at)}" if k.revoked_at else "active"
            scopes = ",".join(k.policy.scopes) + (" (legacy)" if k.legacy else "")
            print(
                f"{k.id}  {k.env:<7}  {k.display_prefix}…  {k.merchant_id} "
                f"({json.dumps(k.merchant_name)})  "
                f"name={json.dumps(k.name)}  scopes={scopes}  "
                f"created {rfc3339(k.created_at)}  {state}"
            )
        return 0
    if args.keys_command == "policy":
        policy = _policy(args.policy)
        try:
            merchant, changed = asyncio.run(_set_policy(settings, args.key_id, policy))
        except ApiError as refused:
            print(f"no key {args.key_id}: {refused.message}", file=sys.stderr)
            return 1
        print(f"{named(merchant)}, policy of {changed.id}: {changed.policy.model_dump_json()}")
        return 0
    owner = revoke_key(settings, args.key_id)
    if owner is not None:
        print(f"{named(owner)}, revoked {args.key_id}")
        return 0
    print(f"no key {args.key_id}", file=sys.stderr)
    return 1
