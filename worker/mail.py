"""Mail as a kind of the runner's (``MAILS``): the mail outbox, sent over SMTP.

The runner leases each queued mail once it is due; a try composes it from its row (a voucher
mail from its top-up, any other from its sealed values) and sends it. The common record
(``store.queue.settle``) makes it ``sent``; or keeps the error and makes it due again after the
schedule's next delay (``AITOPUP_MAIL_RETRY_SCHEDULE``); or, past the schedule, ``failed``. A mail
whose worker died mid-send is due again once its lease lapses. Staging mail (``staged``) is never
leased. Logs name the mail and its kind, never its address.
"""

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import or_

from gateway import outbox
from gateway.local_gateway import recall_url
from gateway.mail import rows
from gateway.mail.content import compose
from gateway.store.models import Mail, table_of
from gateway.store.queue import Queue
from gateway.values.clock import utcnow
from gateway.values.public_base import base_url
from gateway.values.settings import Settings

from . import smtp
from .deps import Deps
from .kind import Bounds, RowKind

__all__ = ["CONCURRENCY", "MAILS", "send"]

log = logging.getLogger("aitopup.worker.mail")

_M = table_of(Mail)

# Mails in flight at once per worker process: each holds an SMTP connection.
CONCURRENCY = 16


def _bounds(settings: Settings) -> Bounds:
    # Connect, TLS and the exchange each get the timeout; then some margin.
    lease = 3 * settings.smtp_timeout_seconds + 30
    return Bounds(concurrency=CONCURRENCY, share=max(1, CONCURRENCY // 4), lease_seconds=lease)


async def send(deps: Deps, mail: Any) -> str | None:
    """One try at a leased mail: ``None`` once sent, else why not."""
    settings = deps.settings
    error: str | None = None
    try:
        async with deps.db.read() as conn:
            message = await compose(
                conn,
                deps.sealer,
                mail,
                base_url=base_url(settings.public_base_url or recall_url()),
                link_ttl_seconds=settings.recipient_link_ttl_seconds,
                now=utcnow(),
                catalogues=deps.languages,
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
    if error is None:
        log.info("mail sent", extra={"mail_id": mail.id, "kind": mail.kind})
    else:
        log.warning(
            "mail attempt failed",
            extra={
                "mail_id": mail.id,
                "kind": mail.kind,
                "attempt": mail.attempts + 1,
                "error": error,
            },
        )
    return error


def _sent(at: datetime) -> dict[str, Any]:
    return {"sent_at": at}


MAILS = RowKind(
    name=outbox.MAIL,
    queue=Queue(
        _M,
        due=rows.QUEUED,
        done=rows.SENT,
        failed=rows.FAILED,
        where=(or_(_M.c.env.is_(None), _M.c.env != "staging"),),
    ),
    handler=send,
    delays=lambda settings: settings.mail_retry_delays,
    bounds_of=_bounds,
    done=_sent,
)
