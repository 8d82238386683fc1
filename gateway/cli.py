"""``aitopup``: migrate, serve, manage keys, and ``run`` everything locally."""

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from keys import ENVS, InvalidSecret

from .accounts.roles import OWNER, ROLES
from .admin import channels as channel_admin
from .admin import checkin as checkin_config
from .admin import plans as plan_admin
from .admin.audit import Call
from .billing.channel_schemas import ChannelAdminData, ChannelSet
from .billing.checkin_schemas import CheckInConfigs, CheckInConfigUpdate
from .billing.plan_schemas import PlanAdminData, PlanCreate, PlanUpdate
from .local_gateway import guess, recall_url
from .merchants import directory
from .merchants import service as merchants
from .merchants.names import check_name
from .merchants.schemas import KeyData
from .operator import (
    UnknownMerchant,
    command_store,
    create_key,
    create_merchant,
    revoke_key,
)
from .policies.model import UNRESTRICTED, Policy
from .store.migrate import upgrade
from .values.clock import rfc3339
from .values.outcome import ApiError
from .values.settings import Settings, load_settings

__all__ = ["main", "server_options"]


def _settings() -> Settings:
    return load_settings()  # secrets come from the environment or .env


def _named(merchant: merchants.MerchantInfo) -> str:
    return f"merchant {merchant.id} ({json.dumps(merchant.name)})"


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


def _cmd_keys(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.keys_command == "create":
        policy = UNRESTRICTED if args.policy is None else _policy(args.policy)
        try:
            merchant, key_id, raw = create_key(
                settings, args.env, args.merchant, name=args.name, policy=policy
            )
        except UnknownMerchant as exc:
            print(f"aitopup keys create: {exc}", file=sys.stderr)
            return 2
        print(f"{_named(merchant)}, key {key_id}, env {args.env}")
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
        print(f"{_named(merchant)}, policy of {changed.id}: {changed.policy.model_dump_json()}")
        return 0
    owner = revoke_key(settings, args.key_id)
    if owner is not None:
        print(f"{_named(owner)}, revoked {args.key_id}")
        return 0
    print(f"no key {args.key_id}", file=sys.stderr)
    return 1


def _cmd_migrate(args: argparse.Namespace) -> int:
    upgrade(_settings().database_url)
    print("migrated")
    return 0


def server_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the gateway, whoever starts it: its bounds and the proxy it trusts."""
    from .ops.deadlines import bounded_protocol  # uvicorn, loaded only by what serves

    return {
        "http": bounded_protocol(
            header_timeout=settings.server_header_timeout_seconds,
            body_timeout=settings.server_body_timeout_seconds,
            max_head_bytes=settings.server_max_head_bytes,
        ),
        "limit_concurrency": settings.server_limit_concurrency,
        "timeout_keep_alive": settings.server_keep_alive_seconds,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "access_log": False,  # the gateway writes its own one-line JSON access log
        "log_config": None,  # uvicorn's records go to the JSON handler too
        # On stop, responses still running (a dashboard's live stream runs up to a minute)
        # get this long to end before their connections are closed.
        "timeout_graceful_shutdown": 10,
    }


def _cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import StartupRefused, check_startup
    from .ops.logs import configure_logging
    from .ops.metrics import prepare_multiprocess_dir

    settings = _settings()
    configure_logging(settings.log_level)
    try:
        check_startup(settings, host=args.host)
    except StartupRefused as exc:
        print(f"aitopup serve: {exc}", file=sys.stderr)
        return 2
    prepare_multiprocess_dir()
    if not settings.public_base_url:
        # Links in mail and replies are built from this, never from a request's Host.
        guess(os.environ, args.host, args.port)
    uvicorn.run(
        "gateway.app:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        **server_options(settings),
    )
    return 0


def _cmd_listen(args: argparse.Namespace) -> int:
    import uvicorn

    from .listen import NoSecret, listener_app, read_secret

    if args.secret is not None:
        print(
            "aitopup listen: the secret is not taken on the command line, where anyone on this "
            f"machine can read it; {NoSecret.HOW}",
            file=sys.stderr,
        )
        return 2
    try:
        app = listener_app(read_secret())
    except (NoSecret, InvalidSecret) as exc:
        print(f"aitopup listen: {exc}", file=sys.stderr)
        return 2
    print(f"listening on http://{args.host}:{args.port}/ (verifying with the given secret)")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _cmd_mcp(args: argparse.Namespace) -> int:
    import os

    from .app import create_app
    from .described import agents_guide
    from .mcp.stdio import KEY_VARIABLE, serve
    from .ops.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level, sys.stderr)  # standard output carries the protocol

    def llms_txt() -> str:
        # The routes /llms.txt is built from; no lifespan is run.
        return agents_guide(create_app(settings).routes)

    asyncio.run(serve(settings, os.environ.get(KEY_VARIABLE), llms_txt))
    return 0


async def _invite(
    settings: Settings, merchant_id: str, email: str, base_url: str, role: str
) -> Any:
    from .accounts.invitations import InviteData, invite

    async with command_store(settings) as db:
        found = (await directory.merchant(db, merchant_id)).data
        if not isinstance(found, merchants.MerchantInfo):
            raise UnknownMerchant(merchant_id)
        invited = await invite(db, found.id, email, base_url, role=role)
        return found, invited.one(InviteData)


def _cmd_users_invite(args: argparse.Namespace) -> int:
    from .accounts.users import AccountError

    settings = _settings()
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
            f"user {invited.email} ({invited.user_id}) is invited to {_named(merchant)}"
            f" as {invited.role}"
        )
        print("they have an account: they join once they accept it, signed in, through this")
        print(f"one-time link; send it to {invited.email} (until {invited.expires_at}):")
        print(invited.accept_url)
        return 0
    print(
        f"user {invited.email} ({invited.user_id}) belongs to {_named(merchant)} as {invited.role}"
    )
    if invited.set_password_url is None:
        print("they already belonged to it: nothing changed")
        return 0
    print(f"one-time link to set their password (until {invited.expires_at}):")
    print(invited.set_password_url)
    return 0


def _cmd_merchants(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.merchants_command == "create":
        try:
            name = check_name(args.name)  # the rule every door keeps
        except ValueError as refused:
            print(f"aitopup merchants create: {refused}", file=sys.stderr)
            return 2
        made = create_merchant(settings, name)
        print(f"created {_named(made)}")
        print(made.id)
        return 0
    for each in asyncio.run(_list_merchants(settings)):
        print(f"{each.id}  {json.dumps(each.name)}")
    return 0


async def _list_merchants(settings: Settings) -> list[merchants.MerchantInfo]:
    async with command_store(settings) as db:
        return (await directory.all_merchants(db)).many(merchants.MerchantInfo)


async def _checkin_config(settings: Settings, update: CheckInConfigUpdate | None) -> CheckInConfigs:
    async with command_store(settings) as db:
        if update is not None:
            # Audited as the admin API's change is, the actor named ``cli``.
            call = Call("cli", "checkin.config.set", "CLI", "aitopup checkin config", None)
            await checkin_config.set_config(db, call, update)
        return (await checkin_config.configs(db)).one(CheckInConfigs)


def _cmd_checkin(args: argparse.Namespace) -> int:
    """Print both environments' check-in settings; with --env, first set that one's."""
    settings = _settings()
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
            print(f"aitopup checkin config: {_problems(exc)}", file=sys.stderr)
            return 2
    found = asyncio.run(_checkin_config(settings, update))
    for each in (found.staging, found.live):
        state = "on" if each.enabled else "off"
        since = each.updated_at or "default"
        print(f"{each.env}: {state}, {each.min_cents} to {each.max_cents} cents ({since})")
    return 0


def _problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
        for e in exc.errors(include_url=False, include_input=False, include_context=False)
    )


def _plan_line(plan: PlanAdminData) -> str:
    state = "on sale" if plan.active else "off sale"
    stripe = f", Stripe {plan.stripe_product_id}" if plan.stripe_product_id else ""
    return (
        f"{plan.id}  {plan.env}  {plan.name}: {plan.price_monthly} a month, "
        f"{plan.price_yearly} a year, {plan.credits_included} credited a period ({state}{stripe})"
    )


async def _plans(settings: Settings, env: str | None, made: PlanCreate | None) -> list[str]:
    async with command_store(settings) as db:
        if made is not None:
            # Audited as the admin API's is, the actor named ``cli``; a live plan's Stripe
            # product and prices are made as the admin API makes them.
            call = Call("cli", "plans.create", "CLI", "aitopup plans create", None)
            created = await plan_admin.create_plan(db, settings, call, made)
            return [_plan_line(created.one(PlanAdminData))]
        found = (await plan_admin.list_plans(db, env)).many(PlanAdminData)
        return [_plan_line(p) for p in found]


async def _plan_update(settings: Settings, plan_id: str, changes: PlanUpdate) -> str:
    async with command_store(settings) as db:
        # As PUT /api/admin/v1/billing/plans/{id}: a live plan's new price is a new Stripe
        # price, made before the row is written; audited with the actor ``cli``.
        call = Call("cli", "plans.update", "CLI", "aitopup plans update", None)
        done = await plan_admin.update_plan(db, settings, call, plan_id, changes)
        return _plan_line(done.one(PlanAdminData))


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


def _cmd_channels_list(args: argparse.Namespace) -> int:
    """Every payment channel, and how each environment has it (never a credential)."""
    for line in asyncio.run(_channels(_settings(), None)):
        print(line)
    return 0


def _cmd_channels_set(args: argparse.Namespace) -> int:
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
        lines = asyncio.run(_channels(_settings(), (args.channel, args.env, body)))
    except ValidationError as exc:
        print(f"aitopup channels set: {_problems(exc)}", file=sys.stderr)
        return 2
    except ApiError as exc:
        fields = (exc.data or {}).get("fields")
        said = exc.message or exc.code.name
        print(f"aitopup channels set: {said}{f' ({fields})' if fields else ''}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    return 0


def _cmd_plans_list(args: argparse.Namespace) -> int:
    """Every plan (of one environment with --env), on sale or not."""
    for line in asyncio.run(_plans(_settings(), args.env, None)) or ["no plans"]:
        print(line)
    return 0


def _cmd_plans_create(args: argparse.Namespace) -> int:
    """A plan, as POST /api/admin/v1/billing/plans makes one."""
    settings = _settings()
    body = {
        "env": args.env,
        "name": args.name,
        "description": args.description,
        "price_monthly": args.price_monthly,
        "price_yearly": args.price_yearly,
        "credits_included": args.credits_included,
        "features": args.feature,
        "active": not args.off_sale,
    }
    try:
        made = PlanCreate.model_validate(body)
    except ValidationError as exc:
        print(f"aitopup plans create: {_problems(exc)}", file=sys.stderr)
        return 2
    try:
        lines = asyncio.run(_plans(settings, None, made))
    except ApiError as exc:
        print(f"aitopup plans create: {exc.message or exc.code.name}", file=sys.stderr)
        return 1
    print(lines[0])
    return 0


def _cmd_plans_update(args: argparse.Namespace) -> int:
    """A plan changed, as PUT /api/admin/v1/billing/plans/{id} changes one: only what is given."""
    given = {
        "name": args.name,
        "description": args.description,
        "price_monthly": args.price_monthly,
        "price_yearly": args.price_yearly,
        "credits_included": args.credits_included,
        "features": [] if args.no_features else args.feature,
        "active": args.active,
    }
    body = {name: value for name, value in given.items() if value is not None}
    if not body:
        print("aitopup plans update: nothing to change: give at least one option", file=sys.stderr)
        return 2
    try:
        changes = PlanUpdate.model_validate(body)
    except ValidationError as exc:
        print(f"aitopup plans update: {_problems(exc)}", file=sys.stderr)
        return 2
    try:
        line = asyncio.run(_plan_update(_settings(), args.plan_id, changes))
    except ApiError as exc:
        print(f"aitopup plans update: {exc.message}", file=sys.stderr)
        return 1
    print(line)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .devrun import run

    return run(host=args.host, port=args.port)


def _cmd_dev(args: argparse.Namespace) -> int:
    from .standins.command import serve

    return serve(args.dev_command, args.host, args.port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aitopup", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    keys_cmd = sub.add_parser("keys", help="create, list, revoke API keys and set their policy")
    keys_sub = keys_cmd.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="mint a key for a merchant, named by its id")
    create.add_argument("--env", choices=ENVS, required=True)
    create.add_argument(
        "--merchant",
        required=True,
        metavar="ID",
        help="the merchant's id (mer_…): `aitopup merchants list` shows them",
    )
    create.add_argument("--name", help="a label for people")
    create.add_argument(
        "--policy",
        metavar="JSON",
        help="the key's policy (docs/keys.md); left out: every scope and no limit",
    )
    keys_sub.add_parser("list", help="list keys by display prefix, with name and scopes")
    policy = keys_sub.add_parser("policy", help="replace a key's whole policy")
    policy.add_argument("key_id", metavar="ID")
    policy.add_argument("policy", metavar="JSON")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id", metavar="ID")
    keys_cmd.set_defaults(func=_cmd_keys)

    merchants_cmd = sub.add_parser("merchants", help="make and list merchants")
    merchants_sub = merchants_cmd.add_subparsers(dest="merchants_command", required=True)
    make = merchants_sub.add_parser(
        "create",
        help="make a merchant (its staging wallet funded) and print its id",
        description="Makes a new merchant and prints its id, which every other command takes. "
        "Names are labels: two merchants may share one.",
    )
    make.add_argument("name", metavar="NAME")
    merchants_sub.add_parser("list", help="every merchant's id and name")
    merchants_cmd.set_defaults(func=_cmd_merchants)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_cmd_migrate)

    serve = sub.add_parser("serve", help="run the gateway (HTTP)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_cmd_serve)

    listen = sub.add_parser(
        "listen",
        help="receive, verify and print webhooks locally",
        description="Receive, verify and print webhooks. The endpoint's whsec_ secret, its whpk_ "
        "public key, or both space-separated, come from AITOPUP_LISTEN_SECRET, or else from "
        "standard input (one line).",
    )
    # Only to refuse it with the way that works: a secret in argv is in the process list.
    listen.add_argument("--secret", help=argparse.SUPPRESS)
    listen.add_argument("--host", default="127.0.0.1")
    listen.add_argument("--port", type=int, default=9000)
    listen.set_defaults(func=_cmd_listen)

    sub.add_parser(
        "mcp",
        help="serve MCP on stdin/stdout",
        description="Serve the gateway's MCP tools on standard input and output, for an agent "
        "that starts them as a local process. The API key comes from AITOPUP_API_KEY; the "
        "store and Redis from the settings, as the gateway's do.",
    ).set_defaults(func=_cmd_mcp)

    users_cmd = sub.add_parser("users", help="dashboard users")
    users_sub = users_cmd.add_subparsers(dest="users_command", required=True)
    invite = users_sub.add_parser(
        "invite",
        help="add a user to a merchant and print a one-time link to set their password",
        description="Adds the user to the merchant, named by its id. A new user gets a link "
        "that sets their password once, valid 72 hours; running this again replaces it. A user "
        "who already has an account is only invited: they join once they accept in the "
        "dashboard.",
    )
    invite.add_argument(
        "--merchant",
        required=True,
        metavar="ID",
        help="the merchant's id (mer_…): `aitopup merchants list` shows them",
    )
    invite.add_argument("--email", required=True)
    invite.add_argument(
        "--role",
        choices=ROLES,
        default=OWNER,
        help="what they may do for the merchant (default: owner): an owner manages "
        "everything; a developer manages keys and webhooks in staging and reads the rest; "
        "a viewer reads",
    )
    invite.add_argument(
        "--base-url", help="the gateway's public address (default: AITOPUP_PUBLIC_BASE_URL)"
    )
    invite.set_defaults(func=_cmd_users_invite)

    checkin_cmd = sub.add_parser("checkin", help="the daily check-in's settings")
    checkin_sub = checkin_cmd.add_subparsers(dest="checkin_command", required=True)
    config = checkin_sub.add_parser(
        "config",
        help="print both environments' settings; with --env, set that one's first",
        description="Prints the daily check-in's settings of staging and live. With --env, "
        "first sets that environment's (--enabled or --disabled, --min and --max in cents), "
        "as PUT /api/admin/v1/checkin/config does, audited as the actor cli.",
    )
    config.add_argument("--env", choices=ENVS)
    switch = config.add_mutually_exclusive_group()
    switch.add_argument("--enabled", dest="enabled", action="store_const", const=True)
    switch.add_argument("--disabled", dest="enabled", action="store_const", const=False)
    config.add_argument("--min", dest="min_cents", type=int, metavar="CENTS")
    config.add_argument("--max", dest="max_cents", type=int, metavar="CENTS")
    checkin_cmd.set_defaults(func=_cmd_checkin)

    plans_cmd = sub.add_parser("plans", help="subscription plans, as the admin API keeps them")
    plans_sub = plans_cmd.add_subparsers(dest="plans_command", required=True)
    plans_list = plans_sub.add_parser("list", help="every plan, on sale or not")
    plans_list.add_argument("--env", choices=ENVS)
    plans_list.set_defaults(func=_cmd_plans_list)
    plans_create = plans_sub.add_parser(
        "create",
        help="a plan (a live one gets its Stripe product and prices)",
        description="Makes a plan as POST /api/admin/v1/billing/plans does, audited as the "
        "actor cli. Prices and credits are integer cents.",
    )
    plans_create.add_argument("--env", choices=ENVS, required=True)
    plans_create.add_argument("--name", required=True)
    plans_create.add_argument("--description", default="")
    plans_create.add_argument("--price-monthly", type=int, required=True, metavar="CENTS")
    plans_create.add_argument("--price-yearly", type=int, required=True, metavar="CENTS")
    plans_create.add_argument("--credits", dest="credits_included", type=int, required=True)
    plans_create.add_argument("--feature", action="append", default=[], metavar="TEXT")
    plans_create.add_argument("--off-sale", action="store_true", help="made but not offered")
    plans_create.set_defaults(func=_cmd_plans_create)
    plans_update = plans_sub.add_parser(
        "update",
        help="change a plan (a live one's new price is a new Stripe price)",
        description="Changes a plan as PUT /api/admin/v1/billing/plans/{id} does, audited as "
        "the actor cli: only the options given change. Prices and credits are integer cents; "
        "--feature, repeated, replaces the plan's features (--no-features clears them).",
    )
    plans_update.add_argument("plan_id", metavar="ID")
    plans_update.add_argument("--name")
    plans_update.add_argument("--description")
    plans_update.add_argument("--price-monthly", type=int, metavar="CENTS")
    plans_update.add_argument("--price-yearly", type=int, metavar="CENTS")
    plans_update.add_argument(
        "--credits-included", "--credits", dest="credits_included", type=int, metavar="CENTS"
    )
    listed = plans_update.add_mutually_exclusive_group()
    listed.add_argument("--feature", action="append", metavar="TEXT")
    listed.add_argument("--no-features", action="store_true", help="the plan lists none")
    sale = plans_update.add_mutually_exclusive_group()
    sale.add_argument("--active", dest="active", action="store_const", const=True, help="on sale")
    sale.add_argument(
        "--inactive", dest="active", action="store_const", const=False, help="off sale"
    )
    plans_update.set_defaults(func=_cmd_plans_update)

    channels_cmd = sub.add_parser(
        "channels", help="payment channels per environment, as the admin API keeps them"
    )
    channels_sub = channels_cmd.add_subparsers(dest="channels_command", required=True)
    channels_sub.add_parser("list", help="every channel and its state").set_defaults(
        func=_cmd_channels_list
    )
    channels_set = channels_sub.add_parser(
        "set",
        help="offer a channel in an environment or not, with its credentials",
        description="Sets a channel as PUT /api/admin/v1/billing/channels/{channel}/{env} "
        "does, audited as the actor cli. Credentials are a JSON object of the provider's "
        "fields, read from a file or from standard input (-); a secret left out keeps the "
        "one saved.",
    )
    channels_set.add_argument("channel")
    channels_set.add_argument("env", choices=ENVS)
    toggle = channels_set.add_mutually_exclusive_group(required=True)
    toggle.add_argument("--enabled", dest="enabled", action="store_const", const=True)
    toggle.add_argument("--disabled", dest="enabled", action="store_const", const=False)
    channels_set.add_argument("--credentials-from", metavar="FILE")
    channels_set.set_defaults(func=_cmd_channels_set)

    run = sub.add_parser("run", help="migrate, start Redis if needed, gateway and worker")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.set_defaults(func=_cmd_run)

    dev_cmd = sub.add_parser(
        "dev", help="development stand-ins of the upstreams, to try fulfilment locally"
    )
    dev_sub = dev_cmd.add_subparsers(dest="dev_command", required=True)
    for kind, said in (
        ("newapi", "a New API instance: its admin API, and a console page that redeems codes"),
        ("openrouter", "OpenRouter's key management API"),
    ):
        standin = dev_sub.add_parser(
            kind,
            help=said,
            description=f"Serves {said}, in memory, until Ctrl-C, and prints what to enter on "
            "the dashboard's Fulfilment page (staging reaches it on this machine when "
            "AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS is true, as make run sets).",
        )
        standin.add_argument("--host", default="127.0.0.1")
        standin.add_argument("--port", type=int, help="default: 3000 (New API), 3100 (OpenRouter)")
        standin.set_defaults(func=_cmd_dev)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
