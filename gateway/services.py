"""The clients a request can use, built once in the lifespan and handed to every request."""

from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from keys import Sealer

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


def services(conn: HTTPConnection) -> Services:
    found: Services = conn.state.services
    return found
