"""The clients a request can use, built once in the lifespan and handed to every request."""

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from keys import Sealer

from .lockout import Lockout
from .settings import Settings
from .store.db import Database
from .webhooks.enqueuer import Enqueuer

__all__ = ["Services", "services"]


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    redis: Any  # arq.ArqRedis: the gateway only enqueues by name
    sealer: Sealer
    enqueuer: Enqueuer  # after-commit enqueues, grouped across requests
    # What this process knows of the authentication lockouts (their truth is in Redis).
    lockout: Lockout = field(default_factory=Lockout)


def services(conn: HTTPConnection) -> Services:
    found: Services = conn.state.services
    return found
