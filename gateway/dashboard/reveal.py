"""Post/redirect/get for the pages that show a secret once: a new key, and an endpoint's secret
when it is made or rotated.

The POST that makes the secret stashes what its page shows in Redis, sealed under a context
bound to the session and a one-time token, for ``TTL_SECONDS``, and answers 303 to a GET page
carrying the token. That GET takes the stash out (GETDEL) and renders it, never cached. Reloading
it, or coming back to it, finds nothing and says the secret was shown once: nothing is made a
second time, and the secret is never kept in clear. With Redis not answering (within
``ANSWER_WITHIN``), the POST answers with the page itself, as a form post always could.
"""

import asyncio
import logging
import re
import secrets

from redis.exceptions import RedisError
from starlette.requests import Request

from keys import SealError

from ..redis_client import ANSWER_WITHIN
from ..services import services
from .context import known_visit

__all__ = ["TTL_SECONDS", "stash", "take"]

log = logging.getLogger(__name__)

TTL_SECONDS = 600
_TOKEN = re.compile(r"[A-Za-z0-9_-]{24}")


def _where(request: Request, token: str) -> tuple[str, str]:
    session = known_visit(request).session
    assert session is not None  # only signed-in pages make secrets
    return f"dash:reveal:{session.id_hash}:{token}", f"reveal:{session.id_hash}:{token}"


async def stash(request: Request, shown: str) -> str | None:
    """A one-time token for ``shown`` (what the page renders, as JSON text), or None if it could
    not be kept (the caller then renders the page itself)."""
    token = secrets.token_urlsafe(18)
    key, context = _where(request, token)
    svc = services(request)
    sealed = svc.sealer.seal(shown, context=context)
    try:
        async with asyncio.timeout(ANSWER_WITHIN):
            await svc.redis.set(key, sealed, ex=TTL_SECONDS)
    except (RedisError, OSError, TimeoutError):
        log.warning("a secret's page could not be stashed: shown in the POST's answer")
        return None
    return token


async def take(request: Request) -> str | None:
    """What the token in ``?t=`` stashed, once; None if it was taken, expired or never was."""
    token = request.query_params.get("t", "")
    if not _TOKEN.fullmatch(token):
        return None
    key, context = _where(request, token)
    svc = services(request)
    try:
        async with asyncio.timeout(ANSWER_WITHIN):
            sealed = await svc.redis.getdel(key)
    except (RedisError, OSError, TimeoutError):
        return None
    if sealed is None:
        return None
    try:
        return svc.sealer.open(sealed.decode(), context=context)
    except SealError:
        return None
