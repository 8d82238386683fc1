"""Dependencies point one way: keys ← gateway ← worker, and inside gateway/ and worker/ down the
package order (``LAYERS``); keys does no I/O."""

import ast
import functools
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
KEYS_ALLOWED = {"cryptography"}
FORBIDDEN = {
    "keys": {"gateway", "worker", "httpx", "sqlalchemy", "redis", "arq", "starlette"},
    "gateway": {"worker"},
    "worker": set(),
}


# The module's tests share one process, so each file is parsed and walked once for all of them
# (``_import_nodes``): parsing every module of ours, once for each test that read them, was most
# of this module's CPU.
pytestmark = pytest.mark.xdist_group("layering")


@functools.cache
def _import_nodes(path: Path) -> list[ast.Import | ast.ImportFrom]:
    """The file's imports at any depth (inside functions too)."""
    return [
        node
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in _import_nodes(path):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    if not (ROOT / package).exists():
        pytest.skip(f"{package}/ not present")
    for path in (ROOT / package).rglob("*.py"):
        bad = _imports(path) & FORBIDDEN[package]
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_keys_uses_only_the_stdlib_and_cryptography() -> None:
    for path in (ROOT / "keys").rglob("*.py"):
        third_party = {
            name
            for name in _imports(path)
            if name not in sys.stdlib_module_names and name != "keys"
        }
        assert third_party <= KEYS_ALLOWED, f"{path.relative_to(ROOT)} imports {third_party}"


# The package order of gateway/ and worker/, bottom first, written down once. A unit is a
# top-level module or folder (``gateway.values``, ``gateway.topup``; ``worker`` is one); a module
# belongs to the unit that is the longest prefix of its name. A unit may import its own layer and
# any layer below, never one above, and the units of one layer import one another without a
# cycle. The units of a layer marked ``apart`` import none of one another: the doors share only
# what lies below them.
@dataclass(frozen=True)
class Layer:
    name: str
    units: tuple[str, ...]
    apart: bool = False


LAYERS = (
    # Values, the code catalogue, errors and settings: what every layer speaks.
    Layer("values", ("gateway.values",)),
    # The store, Redis and the limiters on it, logs, metrics, documented routes.
    Layer(
        "infrastructure",
        (
            "gateway.store",
            "gateway.migrations",
            "gateway.redis_client",
            "gateway.redis_server",
            "gateway.ratelimit",
            "gateway.lockout",
            "gateway.last_used",
            "gateway.key_requests",
            "gateway.ops",
        ),
    ),
    # What a key may do, and the events a write leaves: the domain checks and writes them.
    Layer("rules", ("gateway.outbox", "gateway.policies")),
    # The operations on callers, wallets, top-ups, merchants and webhooks; no transport.
    Layer(
        "domain",
        (
            "gateway.callers",
            "gateway.webhooks",
            "gateway.ledger",
            "gateway.merchants",
            "gateway.accounts",
            "gateway.billing",
            # The payment channels: the wire protocols they speak, a provider each and the one
            # place each talks to its API, and the registry with the operator's setting of each
            # channel above them all. The rest of billing asks them, never the reverse.
            "gateway.billing.channels.protocols",
            "gateway.billing.channels.providers",
            "gateway.billing.channels",
            "gateway.idempotency",
            "gateway.payments",
            "gateway.operations",
            "gateway.wakes",
            "gateway.services",
            "gateway.mail",
            # The payment protocols' interface (``base``: a receiver, a payer, the shape of a
            # payer's key), the payer keys' table and seal, which a protocol's payer reads
            # when it makes a credential, and the judgement of whether a sealed key opens, which
            # it asks before a debit: below the protocols, whose registry the rest of the payer
            # keys' wing asks.
            "gateway.protocols.base",
            "gateway.protocols.payer_keys",
            "gateway.protocols.judged",
            # The payment protocols agents speak (a receiver each and their registry) and the
            # paid retry every payable request shares: below the send and the doors, above the
            # channels whose orders they credit.
            "gateway.protocols",
            # Approvals where people are: what a policy holds and the one-time links deciding
            # it by mail and Telegram, below the sends and payments that offer them.
            "gateway.approvals",
            # An agent's wallet paying sellers' 402s: a payment (``gateway.payments``) whose
            # credential a protocol's paying half makes.
            "gateway.sellers",
            "gateway.topup",
            # The kinds of hold, a line each, and a link's decision by its kind's own: above
            # every kind (a send's, a payment's).
            "gateway.holds",
            "gateway.recipients",
            "gateway.admin",
            "gateway.upstreams",
            "gateway.apps",
            "gateway.telegram",
            "gateway.budgets",
            "gateway.freezes",
        ),
    ),
    # What every door does alike with a request: key authentication, per-merchant limits.
    Layer(
        "shared by the doors",
        ("gateway.auth", "gateway.merchant_limits", "gateway.client_limits", "gateway.described"),
    ),
    # REST, MCP, the dashboard and the OAuth endpoints: parse, perform, render. None imports
    # another.
    Layer(
        "doors", ("gateway.api", "gateway.mcp", "gateway.dashboard", "gateway.oauth"), apart=True
    ),
    # The app assembled from the doors, what wraps it, and the local webhook listener's app.
    Layer("app", ("gateway.app", "gateway.security_headers", "gateway.listen")),
    # What the command line runs: operator actions and the local stack.
    Layer(
        "commands",
        (
            "gateway.operator",
            "gateway.local_gateway",
            "gateway.demo",
            "gateway.devrun",
            "gateway.standins",
        ),
    ),
    # ``aitopup``: every command, above all it runs.
    Layer("command line", ("gateway.cli",)),
    # The worker, above the gateway whose store and outbox it reads.
    Layer("worker", ("worker",)),
)
ROOTS = ("gateway", "worker")
# A package's own __init__ that only names it (``gateway/__init__.py``) belongs to no layer.
UNLAYERED = {"gateway"}


def _sources() -> list[Path]:
    return sorted(
        path
        for root in ROOTS
        for path in (ROOT / root).rglob("*.py")
        if "migrations/versions" not in path.as_posix()
    )


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_of(path): path for path in _sources()}
UNIT_LAYER = {unit: number for number, layer in enumerate(LAYERS) for unit in layer.units}


def _unit_of(module: str) -> str | None:
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        if ".".join(parts[:size]) in UNIT_LAYER:
            return ".".join(parts[:size])
    return None


def _known(name: str) -> str | None:
    """The module of ours that ``name`` (a module, or a name in one) is, if any."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _targets(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    # ``from gateway import outbox`` imports the module gateway.outbox, not the package.
    return [
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
        for alias in node.names
    ]


@dataclass(frozen=True)
class Edge:
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        path = MODULES[self.importer].relative_to(ROOT)
        return f"{path}:{self.line} ({self.importer}) imports {self.imported}"


@functools.cache
def _edges() -> list[Edge]:
    """Every import of a module of ours by another, at any depth (inside functions too). Read
    when a test first asks (every module parsed: half a second), not as the module is
    collected: each of the run's processes collects it, and one runs its tests."""
    found: set[Edge] = set()
    for module, path in MODULES.items():
        for node in _import_nodes(path):
            for target in _targets(module, path, node):
                known = _known(target)
                if known is not None and known != module:
                    found.add(Edge(module, known, node.lineno))
    return sorted(found, key=lambda e: (e.importer, e.line, e.imported))


def _describe(unit: str) -> str:
    return f"{unit} (layer {LAYERS[UNIT_LAYER[unit]].name!r})"


def test_each_unit_has_one_layer() -> None:
    listed = [unit for layer in LAYERS for unit in layer.units]
    assert len(listed) == len(set(listed)), "a unit is listed twice in LAYERS"


def test_every_module_has_a_layer() -> None:
    missing = [m for m in MODULES if m not in UNLAYERED and _unit_of(m) is None]
    assert not missing, f"place these in LAYERS (tests/test_layering.py): {missing}"


def test_no_import_runs_back_up() -> None:
    upward = []
    for edge in _edges():
        low, high = _unit_of(edge.imported), _unit_of(edge.importer)
        if low is None or high is None or UNIT_LAYER[low] <= UNIT_LAYER[high]:
            continue
        upward.append(f"{edge}: {_describe(high)} is below {_describe(low)}")
    assert not upward, "imports against the package order:\n" + "\n".join(upward)


def test_doors_import_no_other_door() -> None:
    crossing = []
    for edge in _edges():
        mine, theirs = _unit_of(edge.importer), _unit_of(edge.imported)
        if mine is None or theirs is None or mine == theirs:
            continue
        if UNIT_LAYER[mine] == UNIT_LAYER[theirs] and LAYERS[UNIT_LAYER[mine]].apart:
            crossing.append(f"{edge}: one door into another; move the shared piece below")
    assert not crossing, "\n".join(crossing)


def _cycle(graph: dict[str, dict[str, Edge]]) -> list[Edge] | None:
    """The edges of one cycle in ``graph``, if it has any."""
    done: set[str] = set()
    nodes: list[str] = []  # the current path, and the edges between its nodes
    path: list[Edge] = []

    def visit(node: str) -> list[Edge] | None:
        nodes.append(node)
        for target, edge in sorted(graph.get(node, {}).items()):
            if target in nodes:
                return [*path[nodes.index(target) :], edge]
            if target not in done:
                path.append(edge)
                found = visit(target)
                if found:
                    return found
                path.pop()
        nodes.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        if node not in done:
            found = visit(node)
            if found:
                return found
    return None


def test_no_cycle_between_units() -> None:
    graph: dict[str, dict[str, Edge]] = {}
    for edge in _edges():
        mine, theirs = _unit_of(edge.importer), _unit_of(edge.imported)
        if mine is not None and theirs is not None and mine != theirs:
            graph.setdefault(mine, {}).setdefault(theirs, edge)
    cycle = _cycle(graph)
    assert cycle is None, "a cycle between units:\n" + "\n".join(map(str, cycle or []))


def _packages_run(edge: Edge) -> list[Edge]:
    """``edge`` with what Python runs for it first: importing ``a.b.c`` runs ``a/__init__.py``
    and ``a/b/__init__.py`` before ``c``, so a cycle may close through a package's
    ``__init__`` that no written import names. A module's own packages are left out: they
    are running already when it is imported."""
    parts = edge.imported.split(".")
    packages = (".".join(parts[:size]) for size in range(1, len(parts)))
    return [
        edge,
        *(
            Edge(edge.importer, package, edge.line)
            for package in packages
            if package in MODULES and not f"{edge.importer}.".startswith(f"{package}.")
        ),
    ]


def _module_graph(edges: list[Edge]) -> dict[str, dict[str, Edge]]:
    graph: dict[str, dict[str, Edge]] = {}
    for edge in edges:
        for each in _packages_run(edge):
            graph.setdefault(each.importer, {}).setdefault(each.imported, each)
    return graph


def test_no_cycle_between_modules() -> None:
    """Through the packages' ``__init__`` modules too (``_packages_run``)."""
    cycle = _cycle(_module_graph(_edges()))
    assert cycle is None, "a cycle between modules:\n" + "\n".join(map(str, cycle or []))


def test_a_cycle_through_a_package_init_is_seen() -> None:
    """``wing/__init__.py`` imports ``wing.rooms``, which imports ``hall``, which imports
    ``wing.doors``: no written import closes the loop, but importing ``wing.doors`` runs
    ``wing/__init__`` first, so ``hall`` is imported again half made."""
    written = [
        Edge("gateway.billing", "gateway.billing.service", 1),
        Edge("gateway.billing.service", "gateway.ledger.service", 2),
        Edge("gateway.ledger.service", "gateway.billing.schemas", 3),
    ]
    assert _cycle({e.importer: {e.imported: e} for e in written}) is None
    cycle = _cycle(_module_graph(written))
    assert cycle is not None
    assert {e.imported for e in cycle} >= {"gateway.billing", "gateway.ledger.service"}


def test_the_order_test_sees_an_upward_import_and_a_cycle() -> None:
    """The checks above read what they should: a made-up upward import and cycle are found."""
    up = Edge("gateway.values.clock", "gateway.api", 1)
    assert UNIT_LAYER[_unit_of(up.imported) or ""] > UNIT_LAYER[_unit_of(up.importer) or ""]
    both = {
        "gateway.ledger": {"gateway.webhooks": Edge("gateway.ledger.alerts", "gateway.outbox", 1)},
        "gateway.webhooks": {"gateway.ledger": Edge("gateway.webhooks", "gateway.values.clock", 2)},
    }
    assert _cycle(both) is not None
    # And the imports it reads include relative ones, absolute ones and those inside functions.
    imported = {(e.importer, e.imported) for e in _edges()}
    assert ("gateway.outbox", "gateway.store.compose") in imported  # from .store.compose
    assert ("worker.runner", "gateway.outbox") in imported  # from gateway.outbox import
    assert ("gateway.cli.serving", "gateway.mcp.stdio") in imported  # inside a function


# Only the store knows the dialect: everything else writes through plans and the three doors,
# and builds an upsert with ``compose.upsert``, never with a dialect's insert picked for it.
DIALECT_KNOWERS = ("gateway/store/", "gateway/migrations/")


def test_only_the_store_knows_the_dialect() -> None:
    for path in _sources():
        place = path.relative_to(ROOT).as_posix()
        if place.startswith(DIALECT_KNOWERS):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert "is_sqlite" not in line and "dialect" not in line, (
                f"{place}:{number} tests the dialect: {line.strip()}"
            )
            assert "db.insert" not in line, (
                f"{path.relative_to(ROOT)}:{number} takes the dialect's insert: {line.strip()}"
            )


# The operations and their rules know no transport: a dashboard form or an MCP tool calls them
# as the REST routes do.
TRANSPORT_FREE = [
    "gateway.topup.service",
    "gateway.payments.once",
    "gateway.ledger.service",
    "gateway.ledger.alerts",
    "gateway.idempotency",
    "gateway.callers",
    "gateway.values.outcome",
    "gateway.operations",
]


_STARLETTE_BY_MODULE = """
import importlib, json, sys
found = {}
for module in sys.argv[1:]:
    importlib.import_module(module)
    found[module] = sorted(m for m in sys.modules if m.split(".")[0] == "starlette")
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def starlette_loaded() -> dict[str, list[str]]:
    """What of starlette each of ``TRANSPORT_FREE`` loads, in one fresh interpreter, so what the
    test run imported already does not count: imported one after another, a module is charged
    only with what appeared once it was imported, and none before it may have loaded any."""
    found = subprocess.run(
        [sys.executable, "-c", _STARLETTE_BY_MODULE, *TRANSPORT_FREE],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    loaded: dict[str, list[str]] = json.loads(found)
    return loaded


@pytest.mark.parametrize("module", TRANSPORT_FREE)
def test_operations_import_nothing_of_starlette(
    module: str, starlette_loaded: dict[str, list[str]]
) -> None:
    assert not starlette_loaded[module], f"{module} loads {starlette_loaded[module]}"


def test_tests_import_helpers_from_the_fixtures_never_a_conftest() -> None:
    """A helper has one home (``tests/fixtures``): a conftest only holds fixtures and hooks."""
    importing = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        text = path.read_text()
        if "conftest" not in text:  # no import of one without its name: left unparsed
            continue
        for node in ast.walk(ast.parse(text, str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(name.split(".")[-1] == "conftest" for name in names):
                importing.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not importing, "import these from tests.fixtures: " + ", ".join(importing)
