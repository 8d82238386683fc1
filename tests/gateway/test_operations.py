"""One result, one way out: operations answer an ``Outcome``, and doors enqueue only through
``perform``, after the operation committed."""

import ast
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arq import create_pool
from arq.connections import RedisSettings

from gateway.admin import merchants
from gateway.billing import orders, redemption, stripe_events
from gateway.codes import Code
from gateway.operations import perform
from gateway.outcome import Outcome
from gateway.topup import approvals
from gateway.topup import service as topup
from gateway.webhooks import deliveries, endpoints
from gateway.webhooks.enqueuer import Enqueuer
from tests.fixtures.redis import RedisServer

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "gateway"

# Where a request, a tool call or a command comes in.
DOORS = [
    "gateway/api",
    "gateway/mcp",
    "gateway/dashboard",
    "gateway/admin",
    "gateway/cli.py",
    "gateway/topup/doors.py",
]
_ENQUEUE = {"enqueue", "enqueue_jobs", "enqueue_job"}
# Names a result carrier gives the deliveries it hands back.
_DELIVERY_FIELDS = {"deliveries", "delivery_ids", "jobs"}
# A parameter by these names makes a function a step of its caller's transaction.
_IN_A_TRANSACTION = {"conn", "tx"}

# Every operation a door calls that makes work for the worker.
ENTRY_POINTS: list[Callable[..., Any]] = [
    topup.send,
    topup.cancel,
    approvals.approve,
    approvals.deny,
    redemption.redeem,
    orders.pay_sandbox,
    stripe_events.handle_stripe_event,
    merchants.adjust,
    endpoints.send_test,
    deliveries.replay_delivery,
    deliveries.replay_failed,
]


def _modules(*places: str) -> list[Path]:
    found: list[Path] = []
    for place in places:
        path = ROOT / place
        found.extend(sorted(path.rglob("*.py")) if path.is_dir() else [path])
    return found


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), str(path))


def _where(path: Path, node: ast.AST) -> str:
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    return f"{shown}:{getattr(node, 'lineno', '?')}"


def _hand_enqueues(path: Path) -> list[str]:
    """Where a module reaches the enqueuer other than as ``perform``'s first argument, calls an
    enqueue, or imports one."""
    tree = _parse(path)
    through_perform = {
        id(call.args[0])
        for call in ast.walk(tree)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "perform"
        and call.args
    }
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _ENQUEUE:
            found.append(f"{_where(path, node)} calls .{node.attr}")
        elif isinstance(node, ast.Attribute) and node.attr == "enqueuer":
            if id(node) not in through_perform:
                found.append(f"{_where(path, node)} takes the enqueuer outside perform")
        elif isinstance(node, ast.ImportFrom) and any(
            alias.name in _ENQUEUE | {"Enqueuer"} for alias in node.names
        ):
            found.append(f"{_where(path, node)} imports an enqueue")
    return found


def test_no_door_enqueues_by_hand() -> None:
    handed = [found for path in _modules(*DOORS) for found in _hand_enqueues(path)]
    assert not handed, "\n".join(handed)


def test_the_guard_finds_a_door_going_around_perform(tmp_path: Path) -> None:
    door = tmp_path / "door.py"
    door.write_text(
        "from gateway.webhooks.enqueuer import Enqueuer\n"
        "async def handle(svc, op):\n"
        "    outcome = await perform(svc.enqueuer, op)\n"
        "    svc.enqueuer.enqueue(outcome.deliveries)\n"
        "    later = svc.enqueuer\n"
    )
    found = _hand_enqueues(door)
    assert sorted(line.split(" ", 1)[1] for line in found) == [
        "calls .enqueue",
        "imports an enqueue",
        "takes the enqueuer outside perform",
        "takes the enqueuer outside perform",
    ], found


def test_every_operation_that_makes_deliveries_returns_an_outcome() -> None:
    for operation in ENTRY_POINTS:
        returned = typing.get_type_hints(operation)["return"]
        assert returned is Outcome, f"{operation.__module__}.{operation.__qualname__}: {returned}"


def test_one_class_is_named_outcome() -> None:
    named = [
        _where(path, node)
        for path in _modules("gateway")
        for node in ast.walk(_parse(path))
        if isinstance(node, ast.ClassDef) and node.name == "Outcome"
    ]
    assert [where.split(":")[0] for where in named] == ["gateway/outcome.py"], named


def _carriers() -> dict[str, str]:
    """Classes other than ``Outcome`` with a field for deliveries: where each is defined."""
    found: dict[str, str] = {}
    for path in _modules("gateway"):
        for node in ast.walk(_parse(path)):
            if isinstance(node, ast.ClassDef) and node.name != "Outcome":
                fields = {
                    stmt.target.id
                    for stmt in node.body
                    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                }
                if fields & _DELIVERY_FIELDS:
                    found[node.name] = _where(path, node)
    return found


def test_only_steps_in_a_transaction_hand_deliveries_back_another_way() -> None:
    """An operation (it opens its own transaction: no ``conn``) answers an ``Outcome``; a carrier
    of its own is for a step of a transaction, whose operation turns it into one."""
    carriers = _carriers()
    wrong: list[str] = []
    for path in _modules("gateway"):
        for node in ast.walk(_parse(path)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or node.returns is None:
                continue
            params = {
                a.arg for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            }
            if params & _IN_A_TRANSACTION:
                continue
            named = {n.id for n in ast.walk(node.returns) if isinstance(n, ast.Name)}
            if named & carriers.keys():
                wrong.append(
                    f"{_where(path, node)} {node.name} returns {sorted(named & carriers.keys())}"
                )
            # A bare list of delivery ids beside a reply is a carrier too.
            returned = ast.unparse(node.returns)
            if returned.startswith("tuple[") and "list[str]" in returned and "db" in params:
                wrong.append(f"{_where(path, node)} {node.name} returns {returned}")
    assert not wrong, "\n".join(wrong)


async def _queued_ids(pool: Any) -> set[str]:
    ids: set[str] = set()
    for job in await pool.queued_jobs():
        first = job.args[0]
        ids.update(first if isinstance(first, list) else [first])
    return ids


async def test_perform_enqueues_new_and_replayed_deliveries_after_the_operation(
    private_redis: RedisServer,
) -> None:
    pool = await create_pool(RedisSettings.from_dsn(private_redis.url))
    try:
        enqueuer = Enqueuer(pool)
        queued_during: set[str] = set()

        async def operation() -> Outcome:
            await enqueuer.drain()
            queued_during.update(await _queued_ids(pool))
            return Outcome(Code.SUCCESS, deliveries=["dlv_new"], jobs=[("dlv_again", 3)])

        outcome = await perform(enqueuer, operation())
        await enqueuer.drain()
        assert outcome.code == Code.SUCCESS
        assert queued_during == set(), "enqueued before the operation returned"
        assert await _queued_ids(pool) == {"dlv_new", "dlv_again"}
    finally:
        await pool.aclose()
