"""the webhook history's partitions made and dropped as ``store.partitions`` names and bounds
them, through two functions of the tables' owner (``SECURITY DEFINER``) that check the caller
and run the statements, and no longer build a week's name and bounds a second time in SQL
(0078's pair, which did, dropped); and back, 0078's pair again. SQLite unchanged.

``history_make_partition(table, name, low, high)`` makes one table's partition ``name`` of the
key's range ``[low, high)``, what its ``DEFAULT`` partition caught of that range moved into it;
``history_drop_partition(table, name)`` detaches and drops one of the table's partitions. The
week, its name and its bounds are one rule, ``store.partitions``' (weeks from a Monday, bounds
``clock.id_floor``'s); what the functions check is what a caller may do, not that rule: the
table is one of the history's, the name is one of that table's partitions (made: a new one
named after the table; dropped: one attached to it, never its ``DEFAULT``), the partition key
and storage options are read from the table and its ``DEFAULT`` partition, names are built with
``format(%I)``, bounds passed with ``%L`` (PostgreSQL refuses an empty range or one another
partition holds), and no caller text is executed. ``search_path`` is fixed to the tables'
schema. EXECUTE is granted to PUBLIC, and each refuses a caller whose login role may not INSERT
into the table (making) or DELETE from it (dropping): a partition dropped is no more than its
rows deleted, and one made no more than rows moved within the table.

Revision ID: 0079
Revises: 0078
"""

import importlib
from collections.abc import Sequence
from types import ModuleType

from alembic import op
from sqlalchemy import text

from gateway.store.partitions import HISTORY

revision: str = "0079"
down_revision: str | None = "0078"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECKS = """
    IF tbl IS NULL OR tbl NOT IN ({tables}) THEN
        RAISE EXCEPTION 'not a history table: %', tbl USING ERRCODE = '22023';
    END IF;
    IF name IS NULL OR left(name, length(tbl) + 1) <> tbl || '_' THEN
        RAISE EXCEPTION 'not a partition of %: %', tbl, name USING ERRCODE = '22023';
    END IF;
    IF NOT has_table_privilege(session_user, tbl, '{privilege}') THEN
        RAISE EXCEPTION 'permission denied for table %', tbl USING ERRCODE = '42501';
    END IF;
"""

_MAKE = """
CREATE FUNCTION history_make_partition(tbl text, name text, low text, high text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    key text;
    options text[];
BEGIN
    {checks}
    IF low IS NULL OR high IS NULL THEN
        RAISE EXCEPTION 'a partition needs both bounds' USING ERRCODE = '22023';
    END IF;
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    SELECT a.attname INTO key FROM pg_partitioned_table p
        JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
        WHERE p.partrelid = to_regclass(tbl);
    SELECT c.reloptions INTO options FROM pg_class c WHERE c.oid = to_regclass(tbl || '_default');
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS) %s', name, tbl,
        CASE WHEN options IS NULL THEN '' ELSE 'WITH (' || array_to_string(options, ', ') || ')'
        END);
    EXECUTE format(
        'WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *) '
        'INSERT INTO %I SELECT * FROM moved',
        tbl || '_default', key, low, key, high, name);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
        tbl, name, low, high);
    RETURN true;
END
$$
"""

_DROP = """
CREATE FUNCTION history_drop_partition(tbl text, name text) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
BEGIN
    {checks}
    IF name = tbl || '_default' THEN
        RAISE EXCEPTION 'the default partition of % is kept', tbl USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = to_regclass(name)
                   AND inhparent = to_regclass(tbl)) THEN
        RETURN false;
    END IF;
    EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', tbl, name);
    EXECUTE format('DROP TABLE %I', name);
    RETURN true;
END
$$
"""

_FUNCTIONS = (
    "history_make_partition(text, text, text, text)",
    "history_drop_partition(text, text)",
)
_BEFORE = ("history_make_week(text, date)", "history_drop_week(text, date)")


def _previous() -> ModuleType:
    """Migration 0078, whose functions this one replaces and its way back makes again."""
    return importlib.import_module("gateway.migrations.versions.0078_history_partition_functions")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.execute(text("SELECT quote_ident(current_schema())")).scalar_one()
    # The tables as ``store.partitions`` lists them: ours, quoted as literals.
    tables = ", ".join(f"'{history.table}'" for history in HISTORY)
    for function in _BEFORE:
        op.execute(f"DROP FUNCTION {function}")
    op.execute(
        _MAKE.format(schema=schema, checks=_CHECKS.format(tables=tables, privilege="INSERT"))
    )
    op.execute(
        _DROP.format(schema=schema, checks=_CHECKS.format(tables=tables, privilege="DELETE"))
    )
    for function in _FUNCTIONS:
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in _FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
    _previous().upgrade()
