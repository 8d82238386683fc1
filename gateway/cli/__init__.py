"""``aitopup``: migrate, serve, manage keys, and ``run`` everything locally.

Each command's handler is a module of this package, imported only when that command runs, so
``aitopup --help`` and every command start without what the others import (the store's models,
the billing wing, the app)."""

import argparse
import importlib
from collections.abc import Callable, Sequence

from keys import ENVS

from ..accounts.role_names import OWNER, ROLES

__all__ = ["LISTEN_PORT", "main"]

# What ``aitopup --help`` says of itself.
LISTEN_PORT = 9000  # where ``aitopup listen`` receives unless told
_DESCRIPTION = "``aitopup``: migrate, serve, manage keys, and ``run`` everything locally."

Handler = Callable[[argparse.Namespace], int]


def _handler(module: str, name: str) -> Handler:
    """The handler ``name`` of the module ``gateway.cli.<module>``, imported when it runs."""

    def run(args: argparse.Namespace) -> int:
        handler: Handler = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        return handler(args)

    return run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aitopup", description=_DESCRIPTION)
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
    keys_cmd.set_defaults(func=_handler("api_keys", "manage_keys"))

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
    merchants_cmd.set_defaults(func=_handler("merchants", "manage_merchants"))

    sub.add_parser("migrate", help="apply database migrations").set_defaults(
        func=_handler("migrate", "migrate")
    )

    serve = sub.add_parser("serve", help="run the gateway (HTTP)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(func=_handler("serving", "serve"))

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
    # The quick start's endpoint (http://127.0.0.1:9000/hook); never the README's other port
    # for ``make run``.
    listen.add_argument("--port", type=int, default=LISTEN_PORT)
    listen.set_defaults(func=_handler("serving", "listen"))

    sub.add_parser(
        "mcp",
        help="serve MCP on stdin/stdout",
        description="Serve the gateway's MCP tools on standard input and output, for an agent "
        "that starts them as a local process. The API key comes from AITOPUP_API_KEY; the "
        "store and Redis from the settings, as the gateway's do.",
    ).set_defaults(func=_handler("serving", "mcp"))

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
    invite.set_defaults(func=_handler("users", "invite_user"))

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
    checkin_cmd.set_defaults(func=_handler("checkin", "checkin"))

    money = sub.add_parser(
        "treasury",
        help="the operator's treasury: each rail's float, what is out, its ledger",
        description="Prints the treasury of every environment and rail (as GET "
        "/api/admin/v1/treasury). With --env, --protocol, --float and --low, first sets that "
        "rail's float and level in cents, as PUT /api/admin/v1/treasury does, audited as the "
        "actor cli.",
    )
    money.add_argument("--env", choices=ENVS)
    money.add_argument("--protocol", metavar="RAIL")
    money.add_argument("--float", dest="float_cents", type=int, metavar="CENTS")
    money.add_argument("--low", dest="low_cents", type=int, metavar="CENTS")
    money.add_argument(
        "--reconcile",
        action="store_true",
        help="ask each provider about the payments the treasury paid out, and print where it "
        "and the ledger disagree (exit 1 if anywhere)",
    )
    money.add_argument(
        "--seal-x402-key",
        dest="seal_network",
        metavar="NETWORK",
        help="read the treasury's x402 private key for NETWORK (CAIP-2) from standard input, or "
        "make one if it is empty, and print it sealed under AITOPUP_SECRET_KEY with its address, "
        "for AITOPUP_TREASURY_X402_KEYS",
    )
    money.set_defaults(func=_handler("treasury", "treasury_command"))

    for name, on in (("freeze", True), ("unfreeze", False)):
        kill = sub.add_parser(
            name,
            help="the kill switch: freeze a merchant's environment"
            if on
            else "undo the kill switch: a merchant's environment works again as before",
            description="As POST /freeze: every key, consent and app token of the environment "
            "is refused until it is unfrozen; an event and a mail to each owner."
            if on
            else "As DELETE /freeze: every credential of the environment works again.",
        )
        kill.add_argument(
            "--merchant",
            required=True,
            metavar="ID",
            help="the merchant's id (mer_…): `aitopup merchants list` shows them",
        )
        kill.add_argument("--env", required=True, choices=ENVS)
        if on:
            kill.add_argument(
                "--held",
                choices=("keep", "cancel"),
                default="keep",
                help="sends held for approval: keep them held (default) or cancel and refund",
            )
        kill.set_defaults(func=_handler("freeze", name))

    plans_cmd = sub.add_parser("plans", help="subscription plans, as the admin API keeps them")
    plans_sub = plans_cmd.add_subparsers(dest="plans_command", required=True)
    plans_list = plans_sub.add_parser("list", help="every plan, on sale or not")
    plans_list.add_argument("--env", choices=ENVS)
    plans_list.set_defaults(func=_handler("plans", "list_plans"))
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
    plans_create.add_argument(
        "--credits-expire", action="store_true", help="a period's credits lapse at its end"
    )
    plans_create.set_defaults(func=_handler("plans", "create_plan"))
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
    lapse = plans_update.add_mutually_exclusive_group()
    lapse.add_argument(
        "--credits-expire",
        dest="credits_expire",
        action="store_const",
        const=True,
        help="a period's credits lapse at its end",
    )
    lapse.add_argument(
        "--credits-keep",
        dest="credits_expire",
        action="store_const",
        const=False,
        help="a period's credits never lapse",
    )
    plans_update.set_defaults(func=_handler("plans", "update_plan"))

    telegram_cmd = sub.add_parser("telegram", help="the Telegram bot of approvals")
    telegram_sub = telegram_cmd.add_subparsers(dest="telegram_command", required=True)
    telegram_sub.add_parser(
        "set-webhook",
        help="point Telegram at this gateway (setWebhook, with AITOPUP_TELEGRAM_WEBHOOK_SECRET)",
    ).set_defaults(func=_handler("telegram", "set_webhook"))

    channels_cmd = sub.add_parser(
        "channels", help="payment channels per environment, as the admin API keeps them"
    )
    channels_sub = channels_cmd.add_subparsers(dest="channels_command", required=True)
    channels_sub.add_parser("list", help="every channel and its state").set_defaults(
        func=_handler("channels", "list_channels")
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
    channels_set.set_defaults(func=_handler("channels", "set_channel"))

    run = sub.add_parser("run", help="migrate, start Redis if needed, gateway and worker")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.set_defaults(func=_handler("serving", "run"))

    dev_cmd = sub.add_parser(
        "dev", help="development stand-ins of the upstreams, to try fulfilment locally"
    )
    dev_sub = dev_cmd.add_subparsers(dest="dev_command", required=True)
    for kind, said in (
        ("newapi", "a New API instance: its admin API, and a console page that redeems codes"),
        ("openrouter", "OpenRouter's key management API"),
        ("x402", "an x402 facilitator (verify, settle, supported) that asks no chain"),
    ):
        standin = dev_sub.add_parser(
            kind,
            help=said,
            description=f"Serves {said}, in memory, until Ctrl-C, and prints what to enter on "
            "the dashboard's Fulfilment page (staging reaches it on this machine when "
            "AITOPUP_ALLOW_PRIVATE_WEBHOOK_URLS is true, as make run sets).",
        )
        standin.add_argument("--host", default="127.0.0.1")
        standin.add_argument(
            "--port", type=int, help="default: 3000 (New API), 3100 (OpenRouter), 3200 (x402)"
        )
        standin.set_defaults(func=_handler("dev", "serve"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code: int = args.func(args)
    return code
