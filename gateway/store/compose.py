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
the driver (``store.raw``). The rule that keeps them equal when a step is refused: the
``required`` steps (an idempotency key's claim, the conditional debit) come first, each
depending on those before it, and every other step depends on them, so "no row" there means
nothing was written in either rendering (checked when the plan is built).

One statement reads the rows it does not write as they stood when it began (PostgreSQL's
statement snapshot), whatever lock it then waits for. A step that must read what every rival
committed (a sum over rows, as a rolling window's) is preceded by a ``lock`` step: a statement of
its own, run first in the same transaction, which takes the rivals' common lock, so the plan's
statement begins once they have committed and reads all they wrote.

Parameters are a contract: each step's construct names what it binds (its ``param``s), the plan
knows the union of them (``Plan.binds``), a plan built with the names its caller supplies
(``given``) refuses at once a step that binds one of no supplier, and a run that lacks one is
refused before the driver sees it.

The SQL pieces steps are made of (a typed parameter, an upsert, one of a list…) are
``store.expressions``, named here too.
"""

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Select,
    exists,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql import visitors
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import BindParameter
from sqlalchemy.sql.expression import CTE
from sqlalchemy.types import TypeEngine

from .expressions import one_of, param
from .raw import Construct, Raw, Statement
from .refs import NO_REFS, Refs

__all__ = ["NO_REFS", "Applied", "Build", "Plan", "PlanError", "Refs", "Step", "steps"]


class PlanError(Exception):
    """A plan built or run against its contract: a parameter not supplied (missing or
    misspelt), a step out of order, a row asked of a plan that has none. A programming error,
    raised whatever Python's optimisation level (``assert`` is removed by ``python -O``)."""


def _require(holds: bool, message: str) -> None:
    if not holds:
        raise PlanError(message)


Build = Callable[[Refs], Construct]


@dataclass(frozen=True, slots=True)
class Step:
    """``many``: the step returns any number of rows (a fan-out), which no later step uses.
    ``required``: no row from this step refuses the whole write. ``when``: a flag an earlier
    step returns, ``(step, column)``, that the construct's own condition holds too; in order,
    the step is not run unless it is true, so a write that rarely applies (an auto top-up's
    crossing) costs no statement when it does not. The one statement runs it, and writes
    nothing, as its condition says."""

    name: str
    build: Build
    many: bool = False
    required: bool = False
    when: tuple[str, str] | None = None
    # Run first, as a statement of its own in the plan's transaction, in both renderings: it
    # refers to no step, no step refers to it, and what it writes is no part of the plan's
    # outcome (a lock row), so it is kept whatever the required step returns.
    lock: bool = False
    # Whether it wrote is all a later step uses of it (``after``), and its caller
    # reads nothing of it: built without RETURNING, which SQLite pays for with a table of its
    # own, and counted in order; given one for the one statement, whose CTE must return rows.
    # A required one refuses the write when it wrote nothing.
    counted: bool = False
    # A required step's "no row" raises this rather than the plan answering ``None``: a
    # refusal its caller tells apart from a later required step's (an idempotency key's claim
    # that found the key taken, before the debit that found the wallet short).
    refused: Callable[[], Exception] | None = None
    # Its row is values its caller bound, ``(column, parameter)`` pairs: in order it is counted
    # and its row made of them once it wrote (SQLite makes no table for a RETURNING it lacks).
    echoes: tuple[tuple[str, str], ...] = ()


class _CteRefs(Refs):
    def __init__(self, rows: CTE | None) -> None:
        self.ctes: dict[str, CTE] = {}
        self.rows = rows

    def col(self, step: str, column: str) -> ColumnElement[Any]:
        return self.ctes[step].c[column]

    def after(self, step: str) -> ColumnElement[bool]:
        return exists(select(literal_column("1")).select_from(self.ctes[step]))

    def among(self, column: ColumnElement[Any], step: str, returned: str) -> ColumnElement[bool]:
        return column.in_(select(self.ctes[step].c[returned]))

    def maybe(self, step: str, column: str) -> ColumnElement[Any]:
        return select(self.ctes[step].c[column]).scalar_subquery()

    def row(self, column: str) -> ColumnElement[Any]:
        _require(self.rows is not None, "a plan of one run has no row")
        assert self.rows is not None
        return self.rows.c[column]


@dataclass(slots=True)
class _Ordered:
    """One step rendered as a statement of its own, and the earlier values it binds."""

    step: Step
    statement: Statement
    sources: set[str] = field(default_factory=set)
    binds: list[tuple[str, str, str]] = field(default_factory=list)  # (param, step, column)
    lists: list[tuple[str, str, str]] = field(default_factory=list)  # (param, step, column)
    maybes: list[tuple[str, str, str]] = field(default_factory=list)  # (param, step, column)
    names: set[str] = field(default_factory=set)  # what it binds from the caller's parameters
    labels: tuple[str, ...] = ()  # its columns' names in the one statement's row
    returns: tuple[str, ...] = ()  # the columns of the row it returns, in either rendering


def _bound(construct: Construct) -> set[str]:
    """The parameters ``construct`` takes from its caller: its ``param``s, not its literals."""
    return {
        element.key
        for element in visitors.iterate(construct)
        if isinstance(element, BindParameter) and element.required
    }


class _BindRefs(Refs):
    def __init__(
        self, built: Mapping[str, Construct], row_types: Mapping[str, TypeEngine[Any]] | None
    ) -> None:
        self._built = built
        self._row_types = row_types
        self.current: _Ordered | None = None

    def col(self, step: str, column: str) -> ColumnElement[Any]:
        assert self.current is not None
        name = f"{step}__{column}"
        self.current.sources.add(step)
        self.current.binds.append((name, step, column))
        returned = self._built[step].exported_columns
        _require(column in returned, f"{self.current.step.name} uses values of {step}")
        return param(name, returned[column].type)

    def after(self, step: str) -> ColumnElement[bool]:
        assert self.current is not None
        self.current.sources.add(step)
        return true()

    def maybe(self, step: str, column: str) -> ColumnElement[Any]:
        assert self.current is not None
        name = f"{step}__{column}__maybe"
        self.current.maybes.append((name, step, column))
        returned = self._built[step].exported_columns
        _require(column in returned, f"{self.current.step.name} uses values of {step}")
        return param(name, returned[column].type)

    def among(self, column: ColumnElement[Any], step: str, returned: str) -> ColumnElement[bool]:
        assert self.current is not None
        name = f"{step}__{returned}s"
        self.current.sources.add(step)
        self.current.lists.append((name, step, returned))
        return one_of(column, name)

    def row(self, column: str) -> ColumnElement[Any]:
        _require(self._row_types is not None, "a plan of one run has no row")
        assert self._row_types is not None
        return param(column, self._row_types[column])


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
    """Steps in order; ``run`` applies them, in one statement or in order.

    ``each_row``: the plan runs once per row of a batch, each step taking that row's values
    (``Refs.row``) with the types given: in one statement over the batch's columns as arrays
    (``unnest``), or in order as one ``executemany`` per step. Such steps return nothing."""

    def __init__(
        self,
        steps: Sequence[Step],
        *,
        each_row: Mapping[str, TypeEngine[Any]] | None = None,
        given: Collection[str] | None = None,
    ) -> None:
        self.steps = tuple(steps)
        self.each_row = dict(each_row) if each_row is not None else None
        self._ordered = self._render_ordered()
        self._check()
        self.binds = frozenset().union(*(item.names for item in self._ordered))
        if given is not None:
            for item in self._ordered:
                missing = item.names - set(given)
                _require(
                    not missing, f"step {item.step.name} binds {sorted(missing)}: not supplied"
                )

    def _render_ordered(self) -> list[_Ordered]:
        built: dict[str, Construct] = {}
        refs = _BindRefs(built, self.each_row)
        ordered: list[_Ordered] = []
        for step in self.steps:
            refs.current = _Ordered(step, Statement(""))
            construct = step.build(refs)
            built[step.name] = _echoing(step, construct)
            statement = refs.current.statement = Statement.of(construct)
            returns = tuple(column for column, _ in step.echoes) or statement.columns
            refs.current.returns = returns
            refs.current.labels = tuple(f"{step.name}__{c}" for c in returns)
            refs.current.names = _bound(construct) - {name for name, _, _ in refs.current.binds}
            refs.current.names -= {name for name, _, _ in refs.current.lists}
            refs.current.names -= {name for name, _, _ in refs.current.maybes}
            refs.current.names -= set(self.each_row or ())
            ordered.append(refs.current)
        return ordered

    def _check(self) -> None:
        """Every step but the required ones depends on all of them, directly or not, and they
        come first: then "no row" from one means nothing was written, in both renderings."""
        required = {s.name for s in self.steps if s.required}
        locks = {s.name for s in self.steps if s.lock}
        reaches: dict[str, set[str]] = {}
        for i, item in enumerate(self._ordered):
            step = item.step
            _require(
                not step.counted or not (step.many or step.lock),
                f"{step.name}: a counted step is one plain write",
            )
            _require(step.refused is None or step.required, f"{step.name}: only a required step")
            _require(
                not step.echoes or not (step.many or step.lock or step.counted),
                f"{step.name}: a step that echoes is one plain write",
            )
            echoed = {name for _, name in step.echoes}
            _require(echoed <= item.names, f"{step.name} echoes a value it does not bind")
            reaches[step.name] = set(item.sources).union(*(reaches[s] for s in item.sources))
            _require(not item.sources & locks, f"{step.name} refers to a lock step")
            if step.lock:
                _require(
                    all(s.lock for s in self.steps[:i]) and not item.sources,
                    f"{step.name}: a lock step comes first and refers to no step",
                )
                _require(self.each_row is None, f"{step.name}: a plan run per row takes no lock")
                continue
            if self.each_row is not None:
                _require(not item.statement.columns, f"{step.name}: a step run per row returns")
            if step.required:
                _require(
                    all(s.required or s.lock for s in self.steps[:i]),
                    f"{step.name} must come first",
                )
                # The one statement runs every CTE: one that did not wait on the required
                # steps before it would write when they found no row.
                earlier = {s.name for s in self.steps[:i] if s.required}
                missing = earlier - reaches[step.name]
                _require(not missing, f"step {step.name} does not depend on {missing}")
                continue
            missing = required - reaches[step.name]
            _require(not missing, f"step {step.name} does not depend on {missing}")
            for _, source, _ in (*item.binds, *item.maybes):
                _require(not self._step(source).many, f"{step.name} uses one row of {source}")
            for _, source, _ in (*item.binds, *item.lists, *item.maybes):
                _require(not self._step(source).counted, f"{step.name} uses values of {source}")

    @property
    def in_order(self) -> tuple[Statement, ...]:
        """The steps as statements of their own, in order."""
        return tuple(item.statement for item in self._ordered)

    @cached_property
    def locks(self) -> tuple[Statement, ...]:
        """The lock steps' statements, which run before the plan's in either rendering."""
        return tuple(item.statement for item in self._ordered if item.step.lock)

    def _step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    @cached_property
    def one_statement(self) -> Statement:
        """The steps as the CTEs of one statement, returning one row: per single-row step its
        columns, per many-row step its rows as an array of records."""
        rows = None
        if self.each_row is not None:
            arrays = [param(name, ARRAY(type_)) for name, type_ in self.each_row.items()]
            table = func.unnest(*arrays).table_valued(*self.each_row).render_derived("v")
            rows = select(table).cte("rows")
        refs = _CteRefs(rows)
        planned = [step for step in self.steps if not step.lock]
        for step in planned:
            construct = _echoing(step, step.build(refs))
            if step.counted:
                assert not isinstance(construct, Select), f"{step.name}: only a write is counted"
                construct = construct.returning(literal_column("1").label("wrote"))
            refs.ctes[step.name] = construct.cte(step.name)
        outputs: list[ColumnElement[Any]] = []
        for step in planned:
            cte = refs.ctes[step.name]
            columns = list(cte.c)
            if step.counted and step.required:  # whether it wrote: the plan's to judge
                outputs.append(select(cte.c.wrote).scalar_subquery().label(_wrote(step)))
            if not columns or step.counted:
                continue
            if step.many:
                # One record per row, ordered alike in every run; asyncpg decodes them typed.
                record: ColumnElement[Any] = literal_column(step.name)
                value = select(func.array_agg(aggregate_order_by(record, columns[0])))
                outputs.append(value.select_from(cte).scalar_subquery().label(step.name))
                continue
            for column in columns:
                label = f"{step.name}__{column.name}"
                outputs.append(select(column).scalar_subquery().label(label))
        if not outputs:
            outputs.append(literal_column("1").label("done"))
        ctes = ([rows] if rows is not None else []) + list(refs.ctes.values())
        query = select(*outputs).add_cte(*ctes)
        return Statement.of(query)

    async def run(
        self, db: Raw, params: dict[str, Any], *, one_statement: bool | None = None
    ) -> Applied | None:
        """``None`` when a required step returned no row: then nothing was written.
        ``one_statement`` defaults to what the store can do."""
        _require(self.each_row is None, "a plan run per row: run_each")
        missing = self.binds.difference(params)
        if missing:
            raise PlanError(f"parameters not supplied: {sorted(missing)}")
        if one_statement is None:
            one_statement = not db.is_sqlite
        if not one_statement:
            return await self._run_in_order(db, params)
        if not self.locks:
            return self._unpack(await db.fetchrow(self.one_statement, params))
        async with db.atomic():  # the lock is held until the plan's statement has committed
            for lock in self.locks:
                await db.fetch(lock, params)
            return self._unpack(await db.fetchrow(self.one_statement, params))

    async def run_each(
        self, db: Raw, rows: list[dict[str, Any]], *, one_statement: bool | None = None
    ) -> None:
        """The plan once per row of ``rows``, in one statement or in one ``executemany`` per
        step, in order."""
        _require(self.each_row is not None, "a plan of one run: run")
        assert self.each_row is not None
        if not rows:
            return
        missing = self.each_row.keys() - rows[0].keys()
        if missing:
            raise PlanError(f"row values not supplied: {sorted(missing)}")
        if one_statement is None:
            one_statement = not db.is_sqlite
        if one_statement:
            # A column's values read by ``itemgetter``'s C, not a comprehension's Python a row.
            columns = {name: list(map(itemgetter(name), rows)) for name in self.each_row}
            await db.fetch(self.one_statement, columns)
            return
        await db.executemany_each([item.statement for item in self._ordered], rows)

    def _unpack(self, row: dict[str, Any] | None) -> Applied | None:
        assert row is not None
        out: dict[str, Rows] = {}
        for item in self._ordered:
            step, names = item.step, item.returns
            if step.lock:
                out[step.name] = []
            elif step.counted:
                out[step.name] = [{}] if step.required and row[_wrote(step)] is not None else []
            elif step.many:
                records = (row[step.name] or []) if names else []
                out[step.name] = [dict(zip(names, r, strict=True)) for r in records]
            elif names and row[item.labels[0]] is not None:
                out[step.name] = [dict(zip(names, map(row.__getitem__, item.labels), strict=True))]
            else:
                out[step.name] = []
            if step.required and not out[step.name]:
                _refused(step)
                return None
        return Applied(out)

    async def _run_in_order(self, db: Raw, params: dict[str, Any]) -> Applied | None:
        # A later step may be refused (a CHECK) after the debit: the steps commit together.
        async with db.atomic():
            return await self._steps_in_order(db, params)

    async def _steps_in_order(self, db: Raw, params: dict[str, Any]) -> Applied | None:
        out: dict[str, Rows] = {}
        for item in self._ordered:
            # ``all`` over a ``map``: a step's sources checked in C, with no generator to resume.
            if not all(map(out.__getitem__, item.sources)):
                out[item.step.name] = []
                continue
            if item.step.when is not None:
                flag, column = item.step.when
                if not out[flag] or not out[flag][0][column]:
                    out[item.step.name] = []
                    continue
            bound = params
            if item.binds or item.lists or item.maybes:
                bound = {**params}
                for name, source, column in item.binds:
                    bound[name] = out[source][0][column]
                for name, source, column in item.lists:
                    bound[name] = [row[column] for row in out[source]]
                for name, source, column in item.maybes:
                    bound[name] = out[source][0][column] if out[source] else None
            rows: Rows
            if item.step.counted:
                rows = [{} for _ in range(await db.count(item.statement, bound))]
            elif item.step.echoes:
                echoed = {column: bound[name] for column, name in item.step.echoes}
                rows = [echoed] if await db.count(item.statement, bound) else []
            else:
                rows = await db.fetch(item.statement, bound)
            if item.step.required and not rows:
                _refused(item.step)
                return None
            out[item.step.name] = rows
        return Applied(out)


def _echoing(step: Step, construct: Construct) -> Construct:
    """``construct`` returning the columns ``step`` echoes, if any."""
    if not step.echoes:
        return construct
    assert isinstance(construct, UpdateBase), f"{step.name}: only a write echoes"
    return construct.returning(*(construct.table.c[column] for column, _ in step.echoes))


def _wrote(step: Step) -> str:
    """The one statement's column saying whether required counted ``step`` wrote."""
    return f"{step.name}__wrote"


def _refused(step: Step) -> None:
    """Required ``step`` returned no row, so nothing was written: raise its own refusal if it
    has one (else the plan answers ``None``)."""
    if step.refused is not None:
        raise step.refused()


def steps(*items: Step | Iterable[Step]) -> list[Step]:
    """Flatten steps and groups of steps (a rule that takes two, like an event and its fan-out)."""
    flat: list[Step] = []
    for item in items:
        if isinstance(item, Step):
            flat.append(item)
        else:
            flat.extend(item)
    return flat
