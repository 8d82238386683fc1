"""the webhook history's weekly partitions made and dropped through two functions owned by
the tables' owner (``SECURITY DEFINER``), so the workers' role needs grants on the tables and
nothing more; and back, both dropped. SQLite unchanged.

Only the owner of a partitioned table may make or drop its partitions. The two functions do
exactly that and nothing else: ``history_make_week(table, week)`` makes one table's partition of
the week from a Monday (what its ``DEFAULT`` partition caught of that week moved into it), and
``history_drop_week(table, week)`` detaches and drops one table's partition of a week (``week``
null: its partition of the history from before partitions, ``…_before``). ``table`` must be one
of the four history tables and ``week`` a Monday; the names and bounds are built inside, from
those two values alone (as ``store.partitions`` builds them), and no caller text is executed.
Their ``search_path`` is fixed to the tables' schema. EXECUTE is granted to PUBLIC, but each
refuses a caller whose login role may not INSERT into the table (making) or DELETE from it
(dropping): a week dropped is no more than its rows deleted.

Revision ID: 0078
Revises: 0077
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "0078"
down_revision: str | None = "0077"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECKS = """
    IF tbl IS NULL OR tbl NOT IN (
        'events', 'webhook_deliveries', 'webhook_attempts', 'webhook_filtered'
    ) THEN
        RAISE EXCEPTION 'not a history table: %', tbl USING ERRCODE = '22023';
    END IF;
    IF week IS NOT NULL AND extract(isodow FROM week) <> 1 THEN
        RAISE EXCEPTION 'not a Monday: %', week USING ERRCODE = '22023';
    END IF;
    IF NOT has_table_privilege(session_user, tbl, '{privilege}') THEN
        RAISE EXCEPTION 'permission denied for table %', tbl USING ERRCODE = '42501';
    END IF;
"""

_MAKE = """
CREATE FUNCTION history_make_week(tbl text, week date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    name text;
    key text;
    low text;
    high text;
    edge date;
    millis bigint;
    digits text;
    bounds text[] := '{{}}';
BEGIN
    IF week IS NULL THEN
        RAISE EXCEPTION 'not a Monday: null' USING ERRCODE = '22023';
    END IF;
    {checks}
    name := tbl || '_p' || to_char(week, 'YYYYMMDD');
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    key := CASE tbl WHEN 'webhook_attempts' THEN 'delivery_id'
                    WHEN 'webhook_filtered' THEN 'created_at' ELSE 'id' END;
    FOREACH edge IN ARRAY ARRAY[week, week + 7] LOOP
        IF tbl = 'webhook_filtered' THEN
            bounds := array_append(bounds, to_char(edge, 'YYYY-MM-DD') || ' 00:00:00+00');
        ELSE
            -- clock.id_floor: the prefix, then the millisecond in nine base-36 digits.
            millis := (extract(epoch FROM edge::timestamp AT TIME ZONE 'UTC') * 1000)::bigint;
            digits := '';
            FOR i IN 1..9 LOOP
                digits := substr('0123456789abcdefghijklmnopqrstuvwxyz', (millis % 36)::int + 1, 1)
                    || digits;
                millis := millis / 36;
            END LOOP;
            bounds := array_append(
                bounds, (CASE tbl WHEN 'events' THEN 'evt' ELSE 'dlv' END) || '_' || digits);
        END IF;
    END LOOP;
    low := bounds[1];
    high := bounds[2];
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS) %s', name, tbl,
        CASE tbl WHEN 'webhook_deliveries' THEN 'WITH (fillfactor = 50)' ELSE '' END);
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
CREATE FUNCTION history_drop_week(tbl text, week date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = {schema}, pg_temp AS $$
DECLARE
    name text;
BEGIN
    {checks}
    name := tbl || CASE WHEN week IS NULL THEN '_before' ELSE '_p' || to_char(week, 'YYYYMMDD') END;
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

_FUNCTIONS = ("history_make_week(text, date)", "history_drop_week(text, date)")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = bind.execute(text("SELECT quote_ident(current_schema())")).scalar_one()
    op.execute(_MAKE.format(schema=schema, checks=_CHECKS.format(privilege="INSERT")))
    op.execute(_DROP.format(schema=schema, checks=_CHECKS.format(privilege="DELETE")))
    for function in _FUNCTIONS:
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO PUBLIC")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for function in _FUNCTIONS:
        op.execute(f"DROP FUNCTION {function}")
