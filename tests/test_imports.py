"""What a spawned process (the command line, the gateway, the worker) imports before it does
anything: not the Stripe package, which only a Stripe exchange needs; not ``zxcvbn``'s password
list, which only a new password's form needs; not Alembic, which only a migration needs; and no
password hash made. Counted in a fresh interpreter, not timed: a count of modules does not move
with the machine's load, and each bound sits below the count before these were put off (the
command line imported 1,044 modules, the gateway 1,757, the worker 1,407). The command line
parses its arguments on the standard library and ``keys`` alone (792 modules with every
command's handler, before each handler was imported only when its command runs): a command
imports what its own handler needs, and nothing another's does. Nor fpdf2, which only a
receipt's PDF needs (the gateway imported about 1,600 modules with it, the worker 1,260). Nor
the MCP SDK (``mcp``, ``mcp_types``) and the uvicorn it brings, which only a request to ``/mcp`` or
to the OAuth endpoints needs: the gateway imported 1,454 modules with it, a fifth of its import
time. Nor, for ``aitopup mcp``, the gateway's routes, which only the agents' guide reads. Nor a
model of the product's built (``gateway.values.model``): each is built when first used, but the
one policy the policy module makes as it loads."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The entry's module → (packages or modules it must not import, the most modules it may import).
# The store's tables are a module a wing (``gateway.store.models``, about twenty modules), which
# every entry that reads the store loads.
ENTRIES = {
    "gateway.cli": (("stripe", "zxcvbn", "alembic", "sqlalchemy", "pydantic"), 260),
    # A key's revocation ends what it holds for approval (+1); the levels' re-arming rule and
    # the hourly count it shares with operational events, which a key's thresholds read (+2).
    # The treasury's settings (+1); the payload filter's rule and its SQL (+2). How each kind of
    # hold closes with its key, beside the tables (``store.held``, +1). The settings' limits, a
    # module of their own (+1). What a plan's step may use of the steps before it
    # (``store.refs``, +1).
    "gateway.cli.api_keys": (("stripe", "zxcvbn", "alembic", "uvicorn"), 707),
    "gateway.cli.serving": (("stripe", "zxcvbn", "alembic", "sqlalchemy", "mcp"), 400),
    # Its routes' 402s carry MPP's and x402's offers: their models (about 50 modules) load too.
    # Payments to sellers: their tables, their events and the payee rule are modules (+3); the
    # merchants' payer keys, their table, routes and operations (+6); the recipient's page's
    # read of an OpenRouter key's allowance (+1); the Payments page and what each seller was
    # paid (+2); held payments' decisions and doors, and the approvals' package beside them (+5);
    # credit grants: their rules, operations and admin routes (+4); a wallet's low-balance
    # levels, their routes, operations and card, and the alerts of spend windows' levels with
    # their events (+5); rolling spend windows' rows and lock (+1); the bounds of reads made for
    # whoever asks (a recipient's figures, a client's metadata document), one module (+1); the
    # dashboard's cards whose forms post and go back to their page with a notice (+1); the
    # loader of what a request first needs, off the event loop (+1); what a revoked key holds
    # for approval, ended with it (+1); a give-back to the grants a debit was drawn from and the
    # expiry it may meet, the levels' re-arming rule and the hourly count it shares with
    # operational events (+4); the challenge a payment to a seller claims, once (+1);
    # destinations a person bound to an origin, their routes and the Payments page's card (+3);
    # who pays a rail's sellers, its operations and routes (+2); the operator's treasury, its
    # operations and admin routes (+3); the paying fetch (+1); the destination types beyond
    # HTTP, their registry, clients and saving, whose brokers' clients load only when one is
    # opened (+11); the payload filter's rule, its SQL in the fan-out and the dashboard's preview
    # of it (+3); the treasury's settings (+1), the level's alert a payment marks and the
    # operator's mails it writes (+2); the ledger's words the product writes, read in the
    # reader's (``values.memos``), and Babel's lists a page joins by (+2); a hold as a seam: the
    # kinds' registry, a send's and a payment's hold, a held send's first try and the list of
    # top-ups the inbox shares with the top-ups page (+5); how each kind of hold closes with its
    # key, beside the tables (``store.held``, +1); the orders' and the receipts' reads, each in
    # its wing (+2); ``http`` a destination type of the registry's, the delivery's POST its
    # module (+1); the create form's fields per destination type, made from each type's model
    # (+1); the kinds' registry and a link's door a package of their own, above every kind
    # (``gateway.holds``, +1); a history week's name and bounds, made in one place
    # (``store.partitions``), which the lease's floor reads (+1); the settings' limits, a module
    # of their own (``values.limit_settings``, +1); what a plan's step may use of the steps
    # before it (``store.refs``, +1); the log lines' encoder (orjson, +2).
    "gateway.app": (
        (
            "stripe",
            "zxcvbn",
            "alembic",
            "fpdf",
            "web3",
            "eth_account",
            "mcp",
            "mcp_types",
            "uvicorn",
            "aio_pika",
            "nats",
            "aiobotocore",
        ),
        1410,
    ),
    # The code catalogue's bands and the settings' parsed lists are modules of their own (+8);
    # payments to sellers' tables, events and payee rule too (+3); the payer keys' table (+1);
    # the expiry of a held payment is one of its decisions, which read the approval links'
    # package (+8); credit grants' rules and their expiry sweep (+2); the alerts of spend
    # windows' levels, which its sweep writes, with their events (+1); rolling spend windows'
    # rows and lock (+1); the loader of what a request first needs, off the event loop (+1);
    # what a revoked key holds for approval, ended with it (+1); give-backs, grants' expiry, the
    # levels' rule and the hourly count (+4); the challenge a payment claims (+1); the
    # destinations bound to origins, which an approval writes (+1); who pays a rail's sellers,
    # which a payment reads (+1); the treasury a payment's moves write to (+1); the destination
    # types beyond HTTP and the worker's publish to them, the brokers' clients loaded only when
    # a delivery opens one (+12); the payload filter's rule and its SQL in the fan-out (+2); the
    # treasury's settings (+1); the treasury's alerts, the operator's mails, its reconciliation
    # and the jobs that run them (+4); the ledger's words an order's payment writes
    # (``values.memos``) and Babel's lists (+2); the expiry, which asks every kind of hold
    # (the registry, a send's and a payment's hold and what they run: +8), no longer the approval
    # links' module, roles and bot (-5); the history's partitions, made and dropped by its
    # jobs (+1); how each kind of hold closes with its key (+1); the store's word on whether a
    # failure is an outage, which decides how a joined batch of records fails (+1); the log
    # lines' encoder (orjson, +2).
    "worker.service": (
        (
            "stripe",
            "zxcvbn",
            "alembic",
            "fpdf",
            "mcp",
            "mcp_types",
            "aio_pika",
            "nats",
            "aiobotocore",
        ),
        1243,
    ),
    # ``aitopup mcp``: the tools, not the gateway's routes, which only the agents' guide reads
    # (imported when it is first asked for); 1,509 modules with them. Credit grants' rules, which
    # every debit draws by (+1); the alerts of spend windows' levels, which a payment writes,
    # with their events (+1); rolling spend windows (+1); the bounds of reads made for whoever
    # asks (+1); the loader off the event loop (+1), and the one mapping of a failure to its
    # code, which a tool's result shares with REST's answer (``ops.outage``, +2); what a revoked
    # key holds for approval, ended with it (+1); give-backs, grants' expiry, the levels' rule
    # and the hourly count (+4); the challenge a payment claims (+1); the destinations bound to
    # origins, which a payment reads (+1); who pays a rail's sellers, and the treasury (+2); the
    # paying fetch (+1); the destination types beyond HTTP, which the endpoints' rules read
    # (+11); the payload filter's rule and its SQL in the fan-out (+2); the treasury's settings,
    # the level's alert and the operator's mails (+3); the ledger's words the product writes and
    # Babel's lists (+2); a hold as a seam: the kinds' registry, a send's and a payment's hold,
    # a held send's first try and the list of top-ups (+5); how each kind of hold closes (+1);
    # ``http`` a destination type of the registry's (+1); a history week's name and bounds,
    # made in one place (``store.partitions``, +1); the settings' limits, a module of their own
    # (+1); what a plan's step may use of the steps before it (``store.refs``, +1).
    "gateway.mcp.stdio": (
        ("stripe", "zxcvbn", "alembic", "fpdf", "gateway.app", "gateway.described"),
        1445,
    ),
}

_PROBE = """
import json, sys
import {entry}
from gateway.accounts import passwords
modules = sorted(sys.modules)

def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)

models = sys.modules.get("gateway.values.model")
built = [] if models is None else [m for m in subclasses(models.Model) if m.__pydantic_complete__]
print(json.dumps({{
    "modules": modules,
    "hashed": passwords._dummy.cache_info().currsize,
    "built": sorted({{m.__name__ for m in built}}),
}}))
"""


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_a_spawned_process_imports_only_what_starting_needs(entry: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(entry=entry)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = json.loads(done.stdout.splitlines()[-1])
    absent, most = ENTRIES[entry]
    # A package's name stands for it and every module under it.
    present = [
        name
        for name in absent
        for module in found["modules"]
        if f"{module}.".startswith(f"{name}.")
    ]
    assert not present, present
    assert found["hashed"] == 0  # the dummy hash is the gateway's to make as it starts
    # Each model is built when first used; the policy module makes one policy as it loads.
    assert set(found["built"]) <= {"Policy"}, found["built"]
    assert len(found["modules"]) <= most, len(found["modules"])
