"""One definition of a write, rendered per store.

A write of several rows (the send, the worker's lease) is a list of steps. Each step is one
SQLAlchemy Core construct, built once per rendering by a function of its home module (the
conditional debit in the ledger, the fan-out in the outbox, …) that may refer to what earlier
steps return. A ``Plan`` renders the steps two ways:

- **one statement**: each step a data-modifying CTE, a reference to an earlier step a column of
  its CTE, so a step whose source returned nothing writes nothing; one trip, atomic by itself.
  PostgreSQL runs this.
- **in order**: each step its own statement, a reference a bound parameter filled from the row
  the earlier step returned; a step whose source returned nothing is skipped. SQLite, which has
  no data-modifying CTEs, runs this (and PostgreSQL can, which the tests use to compare the two).

Both renderings come from the same constructs, are compiled once per dialect, and run through
the driver (``store.raw``). The rule that keeps them equal when a step is refused: a
``required`` step (the conditional debit) comes first, and every other step depends on it, so
"no row" there means nothing was written in either rendering (checked when the plan is built).
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import ColumnElement, exists, func, literal_column, select, true
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import CTE
from sqlalchemy.types import TypeEngine

from .raw import Construct, Raw, Statement

__all__ = ["NO_REFS", "Applied", "Plan", "Refs", "Step", "const", "param", "steps"]


def param(name: str, type_: TypeEngine[Any] | type[TypeEngine[Any]]) -> BindParameter[Any]:
    """A named, typed parameter: its type gives PostgreSQL's cast."""
    return BindParameter(name, type_=type_)


def const(value: str) -> ColumnElement[Any]:
    """A fixed name written into the SQL (a kind, a status): never a value from outside."""
    assert "'" not in value
    return literal_column(f"'{value}'")


class Refs:
    """What a step's construct may use of the steps before it."""

    def col(self, step: str, column: str) -> ColumnElement[Any]:
        """The value ``column`` of the row ``step`` returned."""
        raise NotImplementedError

    def after(self, step: str) -> ColumnElement[bool]:
        """True once ``step`` returned a row: for a step that uses none of its values."""
        raise NotImplementedError


class _NoRefs(Refs):
    """For a construct run on its own: there is no earlier step."""

    def col(self, step: str, column: str) -> ColumnElement[Any]:
        raise AssertionError(f"a statement run on its own cannot use step {step}")

    def after(self, step: str) -> ColumnElement[bool]:
        return true()


NO_REFS: Refs = _NoRefs()

Build = Callable[[Refs], Construct]


@dataclass(frozen=True, slots=True)
class Step:
    """``many``: the step returns any number of rows (a fan-out), which no later step uses.
    ``required``: no row from this step refuses the whole write."""

    name: str
    build: Build
    many: bool = False
    required: bool = False


class _CteRefs(Refs):
    def __init__(self) -> None:
        self.ctes: dict[str, CTE] = {}

    def col(self, step: str, column: str) -> ColumnElement[Any]:
        return self.ctes[step].c[column]

    def after(self, step: str) -> ColumnElement[bool]:
        return exists(select(literal_column("1")).select_from(self.ctes[step]))


@dataclass(slots=True)
class _Ordered:
    """One step rendered as a statement of its own, and the earlier values it binds."""

    step: Step
    statement: Statement
    sources: set[str] = field(default_factory=set)
    binds: list[tuple[str, str, str]] = field(default_factory=list)  # (param, step, column)


class _BindRefs(Refs):
    def __init__(self, built: Mapping[str, Construct]) -> None:
        self._built = built
        self.current: _Ordered | None = None

    def col(self, step: str, column: str) -> ColumnElement[Any]:
        assert self.current is not None
        name = f"{step}__{column}"
        self.current.sources.add(step)
        self.current.binds.append((name, step, column))
        returned = self._built[step].exported_columns
        return param(name, returned[column].type)

    def after(self, step: str) -> ColumnElement[bool]:
        assert self.current is not None
        self.current.sources.add(step)
        return true()


Rows = list[dict[str, Any]]


class Applied:
    """What each step returned, by step name."""

    def __init__(self, rows: dict[str, Rows]) -> None:
        self._rows = rows

    def one(self, step: str) -> dict[str, Any] | None:
        rows = self._rows[step]
        return rows[0] if rows else None

    def all(self, step: str) -> Rows:
        return self._rows[step]

    def ids(self, *steps: str) -> list[str]:
        return [str(row["id"]) for step in steps for row in self._rows[step]]


class Plan:
    """Steps in order; ``run`` applies them, in one statement or in order."""

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps = tuple(steps)
        self._ordered = self._render_ordered()
        self._check()

    def _render_ordered(self) -> list[_Ordered]:
        built: dict[str, Construct] = {}
        refs = _BindRefs(built)
        ordered: list[_Ordered] = []
        for step in self.steps:
            refs.current = _Ordered(step, Statement(""))
            construct = step.build(refs)
            built[step.name] = construct
            refs.current.statement = Statement.of(construct)
            ordered.append(refs.current)
        return ordered

    def _check(self) -> None:
        """Every step but the required ones depends on all of them, directly or not, and they
        come first: then "no row" from one means nothing was written, in both renderings."""
        required = {s.name for s in self.steps if s.required}
        reaches: dict[str, set[str]] = {}
        for i, item in enumerate(self._ordered):
            step = item.step
            reaches[step.name] = set(item.sources).union(*(reaches[s] for s in item.sources))
            if step.required:
                assert all(s.required for s in self.steps[:i]), f"{step.name} must come first"
                continue
            missing = required - reaches[step.name]
            assert not missing, f"step {step.name} does not depend on {missing}"
            for source in item.sources:
                assert not self._step(source).many, f"{step.name} uses the rows of {source}"

    def _step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    @cached_property
    def one_statement(self) -> Statement:
        """The steps as the CTEs of one statement, returning one row: per single-row step its
        columns, per many-row step an array of each column."""
        refs = _CteRefs()
        for step in self.steps:
            refs.ctes[step.name] = step.build(refs).cte(step.name)
        outputs: list[ColumnElement[Any]] = []
        for step in self.steps:
            cte = refs.ctes[step.name]
            for column in cte.c:
                label = f"{step.name}__{column.name}"
                if step.many:
                    value = select(func.array_agg(column)).scalar_subquery()
                else:
                    value = select(column).scalar_subquery()
                outputs.append(value.label(label))
        if not outputs:
            outputs.append(literal_column("1").label("done"))
        query = select(*outputs).add_cte(*refs.ctes.values())
        return Statement.of(query)

    def _returned(self, step: Step) -> list[str]:
        columns = self._ordered[self.steps.index(step)].statement.columns
        return list(columns)

    async def run(
        self, db: Raw, params: dict[str, Any], *, one_statement: bool | None = None
    ) -> Applied | None:
        """``None`` when a required step returned no row: then nothing was written.
        ``one_statement`` defaults to what the store can do."""
        if one_statement is None:
            one_statement = not db.is_sqlite
        if one_statement:
            return self._unpack(await db.fetchrow(self.one_statement, params))
        return await self._run_in_order(db, params)

    def _unpack(self, row: dict[str, Any] | None) -> Applied | None:
        assert row is not None
        out: dict[str, Rows] = {}
        for step in self.steps:
            names = self._returned(step)
            values = [row[f"{step.name}__{name}"] for name in names]
            if step.many:
                columns = [v or [] for v in values]
                out[step.name] = [
                    dict(zip(names, r, strict=True)) for r in zip(*columns, strict=True)
                ]
            elif names and values[0] is not None:
                out[step.name] = [dict(zip(names, values, strict=True))]
            else:
                out[step.name] = []
            if step.required and not out[step.name]:
                return None
        return Applied(out)

    async def _run_in_order(self, db: Raw, params: dict[str, Any]) -> Applied | None:
        out: dict[str, Rows] = {}
        for item in self._ordered:
            if any(not out[source] for source in item.sources):
                out[item.step.name] = []
                continue
            bound = params
            if item.binds:
                bound = {**params}
                for name, source, column in item.binds:
                    bound[name] = out[source][0][column]
            rows = await db.fetch(item.statement, bound)
            if item.step.required and not rows:
                return None
            out[item.step.name] = rows
        return Applied(out)


def steps(*items: Step | Iterable[Step]) -> list[Step]:
    """Flatten steps and groups of steps (a rule that takes two, like an event and its fan-out)."""
    flat: list[Step] = []
    for item in items:
        if isinstance(item, Step):
            flat.append(item)
        else:
            flat.extend(item)
    return flat
