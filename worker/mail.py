"""ARQ jobs ``send_mail`` and ``send_mails`` and cron ``sweep_mail``: the mail outbox, sent
over SMTP.

A job takes its mail by a conditional UPDATE (queued, its generation, due), which bumps the
generation and leases it: of two jobs for one mail, one sends, and a job the sweep replaced
finds nothing. The outcome is recorded on the row: ``sent``; or the error, and the next attempt
after the schedule's delay (``AITOPUP_MAIL_RETRY_SCHEDULE``) under a fresh job id; or, past the
schedule, ``failed``. A mail whose worker died mid-send is due again once its lease ends, and
the sweep re-enqueues every due mail whose job is gone (a flushed Redis loses nothing). Staging
mail (``staged``) is never taken. Logs name the mail and its kind, never its address.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from gateway import outbox
from gateway.local_gateway import recall_url
from gateway.mail import rows
from gateway.mail.content import compose
from gateway.mail.links import base_url
from gateway.store.db import Database
from gateway.store.models import Mail, table_of
from gateway.values.clock import utcnow
from gateway.values.settings import Settings
from keys import Sealer

from . import smtp
from .batch import each_at_once
from .delivery import Deps

__all__ = [
    "GRACE",
    "SLACK",
    "attempt",
    "send_mail",
    "send_mails",
    "sweep_mail",
    "sweep_mail_once",
]

log = logging.getLogger("aitopup.worker.mail")

_M = table_of(Mail)

# Leave the normal path (enqueue after commit, deferred retries) time to work first.
GRACE = timedelta(seconds=3)
# A deferred job may start a moment before its row's time.
SLACK = timedelta(seconds=1)
SWEEP_BATCH = 500


def _lease(settings: Settings) -> timedelta:
    """Connect, TLS, and the exchange each get the timeout; then some margin."""
    return timedelta(seconds=3 * settings.smtp_timeout_seconds + 30)


async def _claim(
    db: Database, mail_id: str, generation: int, now: datetime, lease: timedelta
) -> Any:
    async with db.transaction() as conn:
        stmt = (
            update(_M)
            .where(
                _M.c.id == mail_id,
                _M.c.status == rows.QUEUED,
                or_(_M.c.env.is_(None), _M.c.env != "staging"),
                _M.c.generation == generation,
                _M.c.next_attempt_at <= now + SLACK,
            )
            .values(
                generation=_M.c.generation + 1,
                attempts=_M.c.attempts + 1,
                next_attempt_at=now + lease,
                updated_at=now,
            )
            .returning(*_M.c)
        )
        return (await conn.execute(stmt)).first()


async def _record(
    db: Database, mail: Any, error: str | None, delays: list[float], now: datetime
) -> tuple[int, datetime] | None:
    """The attempt's outcome; the next attempt's (generation, time) when there is one."""
    mine = (_M.c.id == mail.id, _M.c.generation == mail.generation)
    async with db.transaction() as conn:
        if error is None:
            await conn.execute(
                update(_M)
                .where(*mine)
                .values(status=rows.SENT, sent_at=now, next_attempt_at=None, updated_at=now)
            )
            return None
        if mail.attempts < len(delays):
            when = now + timedelta(seconds=delays[mail.attempts])
            await conn.execute(
                update(_M)
                .where(*mine)
                .values(
                    generation=mail.generation + 1,
                    next_attempt_at=when,
                    last_error=error,
                    updated_at=now,
                )
            )
            return mail.generation + 1, when
        await conn.execute(
            update(_M)
            .where(*mine)
            .values(status=rows.FAILED, next_attempt_at=None, last_error=error, updated_at=now)
        )
        return None


async def attempt(
    db: Database, sealer: Sealer, settings: Settings, redis: Any, mail_id: str, generation: int
) -> str | None:
    """One attempt at mail ``mail_id`` in state ``generation``: its new status, or ``None``
    when this job had nothing to do (sent already, staged, or replaced)."""
    now = utcnow()
    mail = await _claim(db, mail_id, generation, now, _lease(settings))
    if mail is None:
        return None
    error: str | None = None
    try:
        async with db.read() as conn:
            message = await compose(
                conn,
                sealer,
                mail,
                base_url=base_url(settings.public_base_url or recall_url()),
                link_ttl_seconds=settings.recipient_link_ttl_seconds,
                now=now,
            )
        if message is None:
            error = "what the mail was about is gone"
        elif settings.smtp_url is None:
            error = "AITOPUP_SMTP_URL is not set"
        else:
            server = smtp.parse_url(
                settings.smtp_url.get_secret_value(), starttls=settings.smtp_starttls
            )
            email = smtp.build(message, settings.mail_from, mail.id)
            await smtp.send(server, email, seconds=settings.smtp_timeout_seconds)
    except smtp.SmtpError as exc:
        error = str(exc)
    except Exception as exc:  # a bug or a bad setting: recorded and retried, never lost
        log.exception("mail %s (%s) could not be sent", mail.id, mail.kind)
        error = f"internal: {type(exc).__name__}"
    after = utcnow()
    retry = await _record(db, mail, error, settings.mail_retry_delays, after)
    if error is None:
        log.info("mail sent", extra={"mail_id": mail.id, "kind": mail.kind})
        return rows.SENT
    log.warning(
        "mail attempt failed",
        extra={"mail_id": mail.id, "kind": mail.kind, "attempt": mail.attempts, "error": error},
    )
    if retry is None:
        return rows.FAILED
    next_generation, when = retry
    try:
        await redis.enqueue_job(
            outbox.MAIL_JOB,
            mail.id,
            next_generation,
            _job_id=outbox.mail_job_id(mail.id, next_generation),
            _defer_until=when,
        )
    except Exception:  # the sweep will find it
        log.warning("mail retry not enqueued; the sweep will", exc_info=True)
    return rows.QUEUED


async def send_mail(ctx: dict[str, Any], mail_id: str, generation: int) -> str | None:
    """ARQ job ``send_mail``."""
    deps: Deps = ctx["deps"]
    return await attempt(deps.db, deps.sealer, deps.settings, deps.redis, mail_id, generation)


async def send_mails(ctx: dict[str, Any], jobs: list[tuple[str, int]]) -> dict[str, int]:
    """ARQ job ``send_mails``: the mails a busy gateway enqueued together, each attempted as
    ``send_mail`` would (``batch.each_at_once``)."""
    deps: Deps = ctx["deps"]
    return await each_at_once(
        attempt(deps.db, deps.sealer, deps.settings, deps.redis, mail_id, generation)
        for mail_id, generation in jobs
    )


async def sweep_mail_once(db: Database, redis: Any, now: datetime) -> int:
    """Every queued mail due for ``GRACE`` gets a new generation and a job: how many."""
    async with db.transaction() as conn:
        due = (
            select(_M.c.id)
            .where(_M.c.status == rows.QUEUED, _M.c.next_attempt_at <= now - GRACE)
            .order_by(_M.c.next_attempt_at)
            .limit(SWEEP_BATCH)
        )
        stmt = (
            update(_M)
            .where(_M.c.id.in_(due.scalar_subquery()), _M.c.status == rows.QUEUED)
            .values(generation=_M.c.generation + 1, updated_at=now)
            .returning(_M.c.id, _M.c.generation)
        )
        found = [(str(r.id), int(r.generation)) for r in await conn.execute(stmt)]
    if found:
        await outbox.enqueue_jobs(redis, found)
    return len(found)


async def sweep_mail(ctx: dict[str, Any]) -> int:
    """ARQ cron ``sweep_mail``."""
    deps: Deps = ctx["deps"]
    return await sweep_mail_once(deps.db, deps.redis, utcnow())
