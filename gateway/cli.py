"""``aitopup``: migrate, serve, manage keys, and ``run`` everything locally."""

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from keys import ENVS, Env, InvalidSecret

from .clock import rfc3339, utcnow
from .merchants import keys as merchant_keys
from .merchants import service as merchants
from .merchants.schemas import KeyData
from .outcome import ApiError
from .policies.model import UNRESTRICTED, Policy
from .settings import Settings
from .store.db import Database, create_engine
from .store.migrate import upgrade

__all__ = ["main", "server_options"]


def _settings() -> Settings:
    return Settings()  # secrets come from the environment or .env


async def _create_key(
    settings: Settings, env: Env, merchant_name: str, name: str | None, policy: Policy
) -> tuple[str, str, str]:
    db = Database(create_engine(settings.database_url))
    try:
        now = utcnow()
        async with db.transaction() as conn:
            merchant = await merchants.get_or_create_merchant(
                conn,
                db,
                name=merchant_name,
                low_balance_threshold_cents=settings.default_low_balance_threshold_cents,
                staging_initial_balance_cents=settings.staging_initial_balance_cents,
                now=now,
            )
            created = await merchant_keys.create(
                conn,
                merchant_keys.by_operator(merchant.id),
                env=env,
                name=name,
                policy=policy,
                pepper=settings.key_pepper.get_secret_value().encode(),
                now=now,
                cap=settings.max_keys_per_merchant_env,
            )
        return merchant.id, created.id, created.key
    finally:
        await db.dispose()


def create_key(
    settings: Settings,
    env: Env,
    merchant_name: str,
    *,
    name: str | None = None,
    policy: Policy = UNRESTRICTED,
) -> tuple[str, str, str]:
    """``(merchant id, key id, raw key)``; the raw key is never stored. Without a policy the
    operator's key may do everything: often the merchant's first, it makes the others."""
    return asyncio.run(_create_key(settings, env, merchant_name, name, policy))


async def _set_policy(settings: Settings, key_id: str, policy: Policy) -> KeyData:
    db = Database(create_engine(settings.database_url))
    try:
        async with db.transaction() as conn:
            actor = merchant_keys.by_operator(await merchant_keys.merchant_of(conn, key_id))
            return await merchant_keys.replace_policy(conn, actor, key_id, policy)
    finally:
        await db.dispose()


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
    db = Database(create_engine(settings.database_url))
    try:
        async with db.transaction() as conn:
            return await merchants.list_keys(conn)
    finally:
        await db.dispose()


async def _revoke_key(settings: Settings, key_id: str) -> bool:
    db = Database(create_engine(settings.database_url))
    try:
        async with db.transaction() as conn:
            return await merchants.revoke_key(conn, key_id, utcnow())
    finally:
        await db.dispose()


def _cmd_keys(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.keys_command == "create":
        policy = UNRESTRICTED if args.policy is None else _policy(args.policy)
        merchant_id, key_id, raw = create_key(
            settings, args.env, args.merchant, name=args.name, policy=policy
        )
        print(f"merchant {args.merchant} ({merchant_id}), key {key_id}, env {args.env}")
        print(raw)
        print("Shown once: store it now.", file=sys.stderr)
        return 0
    if args.keys_command == "list":
        for k in asyncio.run(_list_keys(settings)):
            state = f"revoked {rfc3339(k.revoked_at)}" if k.revoked_at else "active"
            scopes = ",".join(k.policy.scopes) + (" (legacy)" if k.legacy else "")
            print(
                f"{k.id}  {k.env:<7}  {k.display_prefix}…  {k.merchant_name}  "
                f"name={json.dumps(k.name)}  scopes={scopes}  "
                f"created {rfc3339(k.created_at)}  {state}"
            )
        return 0
    if args.keys_command == "policy":
        policy = _policy(args.policy)
        try:
            changed = asyncio.run(_set_policy(settings, args.key_id, policy))
        except ApiError as refused:
            print(f"no key {args.key_id}: {refused.message}", file=sys.stderr)
            return 1
        print(f"policy of {changed.id}: {changed.policy.model_dump_json()}")
        return 0
    if asyncio.run(_revoke_key(settings, args.key_id)):
        print(f"revoked {args.key_id}")
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

    from .mcp.stdio import KEY_VARIABLE, serve
    from .ops.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level, sys.stderr)  # standard output carries the protocol
    asyncio.run(serve(settings, os.environ.get(KEY_VARIABLE)))
    return 0


async def _invite(settings: Settings, merchant_name: str, email: str, base_url: str) -> Any:
    from .accounts.invitations import invite_by_name

    db = Database(create_engine(settings.database_url))
    try:
        return await invite_by_name(
            db, settings, merchant_name=merchant_name, email=email, base_url=base_url
        )
    finally:
        await db.dispose()


def _cmd_users_invite(args: argparse.Namespace) -> int:
    from .accounts.users import AccountError

    settings = _settings()
    base = args.base_url or settings.public_base_url or "http://127.0.0.1:8000"
    try:
        invited = asyncio.run(_invite(settings, args.merchant, args.email, base))
    except AccountError as exc:
        print(f"aitopup users invite: {exc.message}", file=sys.stderr)
        return 2
    print(f"user {invited.email} ({invited.user_id}) belongs to merchant {args.merchant}")
    if invited.set_password_url is None:
        print("they already have a password: they sign in at /dashboard/sign-in")
    else:
        print(f"one-time link to set their password (until {invited.expires_at}):")
        print(invited.set_password_url)
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .devrun import run

    return run(host=args.host, port=args.port)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aitopup", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    keys_cmd = sub.add_parser("keys", help="create, list, revoke API keys and set their policy")
    keys_sub = keys_cmd.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="mint a key (creating the merchant if needed)")
    create.add_argument("--env", choices=ENVS, required=True)
    create.add_argument("--merchant", default="default")
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

    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_cmd_migrate)

    serve = sub.add_parser("serve", help="run the gateway (HTTP)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_cmd_serve)

    listen = sub.add_parser(
        "listen",
        help="receive, verify and print webhooks locally",
        description="Receive, verify and print webhooks. The endpoint's whsec_ secret comes "
        "from AITOPUP_LISTEN_SECRET, or else from standard input (one line).",
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
        description="Adds the user to the merchant (made if it does not exist). A new user gets "
        "a link that sets their password once, valid 72 hours; running this again replaces it.",
    )
    invite.add_argument("--merchant", required=True, metavar="NAME")
    invite.add_argument("--email", required=True)
    invite.add_argument(
        "--base-url", help="the gateway's public address (default: AITOPUP_PUBLIC_BASE_URL)"
    )
    invite.set_defaults(func=_cmd_users_invite)

    run = sub.add_parser("run", help="migrate, start Redis if needed, gateway and worker")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.set_defaults(func=_cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
