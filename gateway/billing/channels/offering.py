"""Which channels an environment pays through, with which credentials: the operator's setting.

A row per channel and environment (``payment_channels``) says whether the channel is offered
and holds its credentials: the provider's ``Credentials`` as JSON, sealed as webhook secrets
are (context: channel and env), answered with every secret field masked. Without a row a
provider's own default holds (``Provider.enabled_by_default``, ``default_credentials``): Stripe
keeps reading ``AITOPUP_STRIPE_*`` and the sandbox serves staging, so an operator who set
nothing sees what was there before channels.

Staging never touches a live provider: a staging payment through any channel is taken by the
sandbox, on a page titled for the channel; credentials matter only in live. A live channel is
offered only when it has credentials.
"""

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from keys import Sealer, SealError

from ...store.engine import Database
from ...store.models import PaymentChannel, table_of
from ...values.clock import utcnow
from ...values.code_names import Code
from ...values.outcome import ApiError
from ...values.public_base import public_base
from ...values.settings import Settings
from ...values.tls import verifying
from . import registry as channels
from .registry import SANDBOX, STRIPE, Context, Credentials, Kind, Provider, ProviderError
from .schemas import ChannelInfo

__all__ = [
    "ENVS",
    "MASK",
    "NOTIFY_PATH",
    "Chosen",
    "channel_rows",
    "choose",
    "context",
    "credentials_for",
    "credentials_of",
    "info",
    "is_enabled",
    "known",
    "live_credentials",
    "notify_url",
    "offered",
    "plain",
    "saved_credentials",
    "seal",
]

log = logging.getLogger(__name__)

_CH = table_of(PaymentChannel)
ENVS = ("staging", "live")
NOTIFY_PATH = "/api/public/v1/payment/webhook"
MASK = "********"


def notify_url(settings: Settings, channel: str) -> str:
    return f"{public_base(settings)}{NOTIFY_PATH}/{channel}"


def _sealer(settings: Settings) -> Sealer:
    # The same key and derivation as the app's sealer (``services``): it is the settings'.
    return Sealer(settings.secret_key.get_secret_value().encode())


def _seal_context(channel: str, env: str) -> str:
    return f"payment-channel:{channel}:{env}"


def known(channel: str) -> Provider[Any]:
    """The provider called ``channel``, or ``PAYMENT_CHANNEL_UNKNOWN``."""
    found = channels.get(channel)
    if found is None:
        raise ApiError(Code.PAYMENT_CHANNEL_UNKNOWN, data={"channel": channel[:40]})
    return found


async def channel_rows(db: Database, env: str | None = None) -> dict[tuple[str, str], Any]:
    stmt = select(_CH)
    if env is not None:
        stmt = stmt.where(_CH.c.env == env)
    async with db.read() as conn:
        return {(r.channel, r.env): r for r in await conn.execute(stmt)}


def plain(credentials: Credentials) -> dict[str, Any]:
    """The credentials' values, secrets revealed: only ever sealed or handed to a provider."""
    return {
        name: value.get_secret_value() if isinstance(value, SecretStr) else value
        for name, value in credentials
    }


def saved_credentials(settings: Settings, provider: Provider[Any], row: Any) -> Credentials | None:
    if row is None or row.credentials_sealed is None:
        return None
    try:
        opened = _sealer(settings).open(
            row.credentials_sealed, context=_seal_context(row.channel, row.env)
        )
        return provider.credentials.model_validate(json.loads(opened))
    except (SealError, ValueError, ValidationError):
        # A row sealed under another key, or fields the provider no longer takes.
        log.error("payment channel %s (%s): saved credentials unreadable", row.channel, row.env)
        return None


def credentials_of(
    settings: Settings, provider: Provider[Any], env: str, row: Any
) -> Credentials | None:
    """The credentials ``provider`` works with in ``env``: the saved ones, else its default;
    a provider that needs none has them always."""
    saved = saved_credentials(settings, provider, row)
    if saved is not None:
        return saved
    default: Credentials | None = provider.default_credentials(settings, env)
    if default is not None:
        return default
    if not provider.credentials.model_fields:
        return provider.credentials()
    return None


def is_enabled(settings: Settings, provider: Provider[Any], env: str, row: Any) -> bool:
    if env == "live" and provider.name == SANDBOX:
        return False
    return bool(row.enabled) if row is not None else provider.enabled_by_default(settings, env)


async def offered(db: Database, settings: Settings, env: str) -> list[Provider[Any]]:
    """The channels a merchant in ``env`` may pay through, in the registry's order: enabled,
    and in live with credentials."""
    rows = await channel_rows(db, env)
    found = []
    for provider in channels.all_providers():
        row = rows.get((provider.name, env))
        if not is_enabled(settings, provider, env, row):
            continue
        if env == "live" and credentials_of(settings, provider, env, row) is None:
            continue
        found.append(provider)
    return found


def info(provider: Provider[Any], env: str) -> ChannelInfo:
    return ChannelInfo(
        channel=provider.name,
        title=provider.title,
        kinds=sorted(provider.kinds),
        subscriptions=provider.subscriptions,
        through=SANDBOX if env == "staging" else provider.name,
    )


@dataclass(frozen=True, slots=True)
class Chosen:
    """A payment's channel (what the payer chose) and the provider that takes the money (the
    sandbox in staging), with that provider's credentials."""

    channel: Provider[Any]
    payer: Provider[Any]
    credentials: Credentials


async def choose(
    db: Database,
    settings: Settings,
    env: str,
    channel: str | None,
    kind: Kind | Literal["subscription"],
) -> Chosen:
    """The channel named (unnamed: the sandbox in staging, Stripe in live), if the merchant
    may pay through it in ``env`` for ``kind`` (a ``subscription``: a provider with
    ``subscriptions``); else the refusal that says why."""
    name = channel or (SANDBOX if env == "staging" else STRIPE)
    provider = known(name)
    if env == "live" and provider.name == SANDBOX:
        raise ApiError(Code.PAYMENT_CHANNEL_NOT_AVAILABLE, data={"channel": name})
    if not (provider.subscriptions if kind == "subscription" else kind in provider.kinds):
        raise ApiError(Code.PAYMENT_CHANNEL_KIND_UNSUPPORTED, data={"channel": name, "kind": kind})
    row = (await channel_rows(db, env)).get((name, env))
    if env == "staging":
        if not is_enabled(settings, provider, env, row):
            raise ApiError(Code.PAYMENT_CHANNEL_NOT_ENABLED, data={"channel": name})
        sandbox = known(SANDBOX)
        return Chosen(provider, sandbox, sandbox.credentials())
    found = credentials_of(settings, provider, env, row)
    if found is None and row is None and channel is None:
        # Unnamed and never set up: what a live checkout said before channels existed.
        raise ApiError(Code.PAYMENTS_NOT_CONFIGURED)
    if not is_enabled(settings, provider, env, row):
        raise ApiError(Code.PAYMENT_CHANNEL_NOT_ENABLED, data={"channel": name})
    if found is None:
        raise ApiError(Code.PAYMENT_CHANNEL_NOT_CONFIGURED, data={"channel": name})
    return Chosen(provider, provider, found)


async def live_credentials(
    db: Database, settings: Settings, provider: Provider[Any]
) -> Credentials | None:
    """What a provider's live notifications are verified with, and its orders looked up with."""
    row = (await channel_rows(db, "live")).get((provider.name, "live"))
    return credentials_of(settings, provider, "live", row)


async def credentials_for(
    db: Database, settings: Settings, provider: Provider[Any], env: str
) -> Credentials | None:
    row = (await channel_rows(db, env)).get((provider.name, env))
    return credentials_of(settings, provider, env, row)


@asynccontextmanager
async def context(
    settings: Settings, env: str, credentials: Credentials, *, now: datetime | None = None
) -> AsyncIterator[Context[Any]]:
    """One call of a provider: its context, with a client bounded in time and following no
    redirect, closed after; a ``ProviderError`` raised in the block becomes the product's
    ``PAYMENT_PROVIDER_TIMEOUT`` or ``PAYMENT_PROVIDER_ERROR``, the provider's words logged, and
    so does an answer the provider's module could not read (a ``KeyError``...)."""
    timeout = httpx.Timeout(settings.payment_timeout_seconds)
    async with httpx.AsyncClient(
        timeout=timeout, follow_redirects=False, verify=verifying()
    ) as http:
        try:
            yield Context(settings, env, credentials, http, now or utcnow())
        except ProviderError as exc:
            log.warning(
                "payment provider failed: %s (status %s, code %s)",
                exc.reason,
                exc.status,
                exc.code,
            )
            code = Code.PAYMENT_PROVIDER_TIMEOUT if exc.timeout else Code.PAYMENT_PROVIDER_ERROR
            data = {"provider_status": exc.status, "provider_code": exc.code}
            raise ApiError(code, data=None if exc.timeout else data) from None
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            # A provider's module reading an answer of a shape it did not expect.
            log.warning("payment provider's answer not understood: %s", type(exc).__name__)
            raise ApiError(Code.PAYMENT_PROVIDER_ERROR) from None


def seal(settings: Settings, channel: str, env: str, credentials: Credentials) -> str:
    """``credentials`` sealed for the row of ``channel`` in ``env``."""
    text = json.dumps(plain(credentials), separators=(",", ":"))
    return _sealer(settings).seal(text, context=_seal_context(channel, env))
