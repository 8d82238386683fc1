"""What a step of a plan (``compose``) may use of the steps before it: a value of the row one
returned, whether one returned a row, whether a value is among a many-row step's, a value that
may be missing; each rendering of a plan answers these its own way (a CTE's column, or a
parameter bound from the earlier statement's row)."""

from typing import Any

from sqlalchemy import ColumnElement, true

__all__ = ["NO_REFS", "Refs"]


class Refs:
    """What a step's construct may use of the steps before it."""

    def col(self, step: str, column: str) -> ColumnElement[Any]:
        """The value ``column`` of the row ``step`` returned."""
        raise NotImplementedError

    def after(self, step: str) -> ColumnElement[bool]:
        """True once ``step`` returned a row: for a step that uses none of its values."""
        raise NotImplementedError

    def among(self, column: ColumnElement[Any], step: str, returned: str) -> ColumnElement[bool]:
        """``column`` is one of the values ``returned`` of the rows ``step`` (a many-row step)
        returned."""
        raise NotImplementedError

    def maybe(self, step: str, column: str) -> ColumnElement[Any]:
        """The value ``column`` of the row ``step`` returned, or NULL when it returned none: for
        a step that writes whether or not an earlier one did (an answer that says a mail was not
        written). Unlike ``col``, the step does not wait on ``step``."""
        raise NotImplementedError

    def row(self, column: str) -> ColumnElement[Any]:
        """In a plan run once per row (``Plan(each_row=…)``): that row's ``column``."""
        raise NotImplementedError


class _NoRefs(Refs):
    """For a construct run on its own: there is no earlier step."""

    def col(self, step: str, column: str) -> ColumnElement[Any]:
        raise AssertionError(f"a statement run on its own cannot use step {step}")

    def after(self, step: str) -> ColumnElement[bool]:
        return true()


NO_REFS: Refs = _NoRefs()
