"""Every driver statement of the product (``Statement.of``) reads its subqueries against the
rows of the query around them. SQLAlchemy correlates a subquery with the query right around it
only: one nested deeper that names the outer table takes that table into its own FROM, a join
beside it rather than the outer row, and reads every row of it (the spans' retention read the
oldest held debit of all wallets, not the wallet's own). The driver's compile is not the
engine's, so no warning of SQLAlchemy's says so: a FROM of two tables side by side is the mark
of it, and no statement here has one."""

import importlib
import pkgutil
import re
from types import ModuleType

import gateway
import worker
from gateway.store.raw import Statement

# "FROM a, b" or "FROM a AS x, b": tables side by side, where one of them was meant as the outer.
_SIDE_BY_SIDE = re.compile(r"\bFROM \w+(?: AS \w+)?, \w+")


def _modules(package: ModuleType) -> list[ModuleType]:
    names = [
        found.name
        for found in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
        if ".migrations" not in found.name and not found.name.endswith("__main__")
    ]
    return [importlib.import_module(name) for name in names]


def test_no_driver_statement_takes_its_outer_table_as_its_own() -> None:
    statements = {
        f"{module.__name__}.{name}": value
        for module in _modules(gateway) + _modules(worker)
        for name, value in vars(module).items()
        if isinstance(value, Statement)
    }
    assert len(statements) > 50  # the walk found the product's statements
    side_by_side = {
        name: sql
        for name, statement in statements.items()
        for sql in (statement.sqlite[0], statement.asyncpg[0])
        if _SIDE_BY_SIDE.search(sql)
    }
    assert side_by_side == {}
