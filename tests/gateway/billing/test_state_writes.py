"""No order's or subscription's status is written but by its table of moves: in ``gateway/``
and ``worker/``, an ``update`` of ``funding_orders`` or ``subscriptions`` never sets ``status``
(``order_states.move``, ``subscriptions.states.move`` do, through ``store.states``), and an
``insert`` sets it only to what the table's ``first`` says a row starts in. On the tree before
the tables it finds nine of the writes by hand; values passed through ``**`` are beyond it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MODELS = {"FundingOrder", "Subscription"}
# The one place a status is written with a value of its own: the move.
MOVER = Path("gateway/store/states.py")


def _tables(tree: ast.AST) -> set[str]:
    """The names a module binds to ``table_of(FundingOrder)`` or ``table_of(Subscription)``."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            call = node.value
            if (
                isinstance(call.func, ast.Name)
                and call.func.id == "table_of"
                and call.args
                and isinstance(call.args[0], ast.Name)
                and call.args[0].id in MODELS
            ):
                found.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return found


def _root_call(node: ast.expr) -> ast.Call | None:
    """The ``update(X)`` or ``insert(X)`` a chain of ``.where(...).values(...)`` starts from."""
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        node = node.func.value
    return node if isinstance(node, ast.Call) else None


def _status_writes(source: str) -> list[int]:
    """The lines of ``source`` that write a status by hand (a ``status=`` keyword, or a
    ``"status"`` key of the dict ``.values`` is given)."""
    tree = ast.parse(source)
    tables = _tables(tree)
    bad: list[int] = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "values"
        ):
            continue
        root = _root_call(node.func.value)
        if not (
            root is not None
            and isinstance(root.func, ast.Name)
            and root.func.id in ("update", "insert")
            and root.args
            and isinstance(root.args[0], ast.Name)
            and root.args[0].id in tables
        ):
            continue
        written = [k.value for k in node.keywords if k.arg == "status"]
        for given in node.args:
            if isinstance(given, ast.Dict):
                written += [
                    v
                    for k, v in zip(given.keys, given.values, strict=True)
                    if isinstance(k, ast.Constant) and k.value == "status"
                ]
        for value in written:
            started = (
                root.func.id == "insert"
                and isinstance(value, ast.Call)
                and isinstance(value.func, ast.Attribute)
                and value.func.attr == "first"
            )
            if not started:
                bad.append(node.lineno)
    return bad


def test_only_the_tables_of_moves_write_an_order_or_subscription_status() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line}"
        for folder in ("gateway", "worker")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "migrations/versions" not in path.as_posix() and path.relative_to(ROOT) != MOVER
        for line in _status_writes(path.read_text())
    ]
    assert bad == []


def test_the_guard_finds_a_status_written_by_hand() -> None:
    """Each way a write by hand is spelt is found; the table's start is not."""
    source = (
        "_O = table_of(FundingOrder)\n"
        "update(_O).where(_O.c.id == x).values(status='completed')\n"
        "insert(_O).values(status='pending')\n"
        "insert(_O).values(status=order_states.first(PENDING))\n"
        "update(_O).values({'status': 'failed', 'updated_at': now})\n"
        "update(_W).values(status='completed')\n"
    )
    assert _status_writes(source) == [2, 3, 5]
