"""The operator's daily check-in settings, per environment (``billing.checkin.daily`` applies
them)."""

from datetime import datetime

from ..billing.checkin.daily import ENVS, Bounds, bounds_of
from ..billing.checkin.schemas import CheckInConfigData, CheckInConfigs, CheckInConfigUpdate
from ..store.engine import Database
from ..store.expressions import upsert
from ..store.models import CheckInConfig, table_of
from ..values.clock import rfc3339_or_none, utcnow
from ..values.code_names import Code
from ..values.outcome import Outcome
from .audit import Call, record

__all__ = ["configs", "set_config"]

_CFG = table_of(CheckInConfig)


def _config(env: str, bounds: Bounds, updated_at: datetime | None) -> CheckInConfigData:
    return CheckInConfigData(
        env=env,
        enabled=bounds.enabled,
        min_cents=bounds.min_cents,
        max_cents=bounds.max_cents,
        updated_at=rfc3339_or_none(updated_at),
    )


async def configs(db: Database) -> Outcome:
    """Both environments' settings, defaults where never set."""
    async with db.read() as conn:
        found = {env: _config(env, *await bounds_of(conn, env)) for env in ENVS}
    return Outcome(Code.SUCCESS, CheckInConfigs(**found))


async def set_config(db: Database, call: Call, body: CheckInConfigUpdate) -> Outcome:
    """Replace one environment's settings (validated by ``CheckInConfigUpdate``: 0 < min <=
    max <= AITOPUP_MAX_TOPUP_CENTS), audited in the same transaction."""
    now = utcnow()
    values = {
        "enabled": body.enabled,
        "min_cents": body.min_cents,
        "max_cents": body.max_cents,
        "updated_at": now,
    }
    stmt = upsert(_CFG).values(env=body.env, **values)
    stmt = stmt.on_conflict_do_update(index_elements=[_CFG.c.env], set_=values)
    async with db.transaction() as conn:
        await conn.execute(stmt)
        await record(conn, call, Code.SUCCESS, now, target_id=body.env, details=body.model_dump())
    bounds = Bounds(body.enabled, body.min_cents, body.max_cents)
    return Outcome(Code.SUCCESS, _config(body.env, bounds, now))
