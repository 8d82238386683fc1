"""Payment channels as the operator sets them per environment: listed with their credentials
masked, set (offered or not, credentials sealed) and audited in the transaction that saves them.
"""

from datetime import datetime
from typing import Any

from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from ..billing.channels import offering
from ..billing.channels import registry as channels
from ..billing.channels.registry import SANDBOX, Credentials, Provider
from ..billing.channels.schemas import ChannelAdminData, ChannelEnvData, ChannelSet
from ..store.engine import Database
from ..store.expressions import upsert
from ..store.models import PaymentChannel, table_of
from ..store.rows import CoreRow
from ..values.clock import utcnow
from ..values.code_names import Code
from ..values.outcome import ApiError, Outcome
from ..values.settings import Settings
from .audit import Call, record

__all__ = ["list_channels", "set_channel"]

_CH = table_of(PaymentChannel)
ENVS = offering.ENVS


def _masked(credentials: Credentials | None) -> dict[str, Any] | None:
    if credentials is None:
        return None
    return {
        name: offering.MASK if isinstance(value, SecretStr) else value
        for name, value in credentials
    }


def _secret_fields(provider: Provider[Any]) -> dict[str, bool]:
    return {
        name: "SecretStr" in str(field.annotation)
        for name, field in provider.credentials.model_fields.items()
    }


def _env_data(
    settings: Settings, provider: Provider[Any], env: str, row: CoreRow | None
) -> ChannelEnvData:
    return ChannelEnvData(
        env="live" if env == "live" else "staging",
        enabled=offering.is_enabled(settings, provider, env, row),
        source="saved" if row is not None else "default",
        configured=offering.credentials_of(settings, provider, env, row) is not None,
        credentials=_masked(offering.saved_credentials(settings, provider, row)),
        through=SANDBOX if env == "staging" else provider.name,
    )


def _admin_data(
    settings: Settings, provider: Provider[Any], rows: dict[tuple[str, str], Any]
) -> ChannelAdminData:
    return ChannelAdminData(
        channel=provider.name,
        title=provider.title,
        kinds=sorted(provider.kinds),
        subscriptions=provider.subscriptions,
        can_look_up=provider.can_look_up,
        can_refund=provider.can_refund,
        credential_fields=_secret_fields(provider),
        notify_url=offering.notify_url(settings, provider.name),
        notify_methods=sorted(provider.notify_methods),
        envs=[_env_data(settings, provider, e, rows.get((provider.name, e))) for e in ENVS],
    )


async def list_channels(db: Database, settings: Settings) -> Outcome:
    """Every registered channel, how each environment has it, credentials masked."""
    rows = await offering.channel_rows(db)
    return Outcome(Code.SUCCESS, [_admin_data(settings, p, rows) for p in channels.all_providers()])


def _merged(
    provider: Provider[Any], saved: Credentials | None, given: dict[str, Any]
) -> Credentials:
    """``given`` over the saved fields (a secret left out keeps its saved value), judged by
    the provider's model; a refusal names the fields, never what was sent."""
    fields = {**(offering.plain(saved) if saved is not None else {}), **given}
    try:
        return provider.credentials.model_validate(fields)
    except ValidationError as exc:
        names = sorted({".".join(str(p) for p in e["loc"]) or "credentials" for e in exc.errors()})
        raise ApiError(Code.PAYMENT_CHANNEL_CREDENTIALS_INVALID, data={"fields": names}) from None


async def set_channel(
    db: Database,
    settings: Settings,
    call: Call,
    channel: str,
    env: str,
    body: ChannelSet,
    *,
    now: datetime | None = None,
) -> Outcome:
    """Offer ``channel`` in ``env`` or not, with its credentials (sealed; audited without
    them). Live needs credentials to enable a channel; staging pays every channel through
    the sandbox, and the sandbox is never live."""
    provider = offering.known(channel)
    if env not in ENVS:
        raise ApiError(Code.VALIDATION_FAILED, "env is staging or live", data={"env": env[:20]})
    if env == "live" and channel == SANDBOX and body.enabled:
        raise ApiError(Code.PAYMENT_CHANNEL_NOT_AVAILABLE, data={"channel": channel})
    rows = await offering.channel_rows(db, env)
    row = rows.get((channel, env))
    saved = offering.saved_credentials(settings, provider, row)
    sealed = row.credentials_sealed if row is not None else None
    if body.credentials is not None:
        merged = _merged(provider, saved, body.credentials)
        sealed = offering.seal(settings, channel, env, merged)
        saved = merged
    if (
        env == "live"
        and body.enabled
        and saved is None
        and offering.credentials_of(settings, provider, env, None) is None
    ):
        raise ApiError(Code.PAYMENT_CHANNEL_NOT_CONFIGURED, data={"channel": channel})
    now = now or utcnow()
    values = {"enabled": body.enabled, "credentials_sealed": sealed, "updated_at": now}
    async with db.transaction() as conn:
        await conn.execute(
            upsert(_CH)
            .values(channel=channel, env=env, **values)
            .on_conflict_do_update(index_elements=[_CH.c.channel, _CH.c.env], set_=values)
        )
        details = {
            "channel": channel,
            "env": env,
            "enabled": body.enabled,
            # Which fields were sent, never their values.
            "credentials": sorted(body.credentials) if body.credentials is not None else None,
        }
        await record(conn, call, Code.SUCCESS, now, target_id=channel, details=details)
        found = (
            await conn.execute(select(_CH).where(_CH.c.channel == channel, _CH.c.env == env))
        ).one()
    all_rows = {**rows, (channel, env): found}
    return Outcome(Code.SUCCESS, _admin_data(settings, provider, all_rows))
