"""Mails to a merchant's owners about one of its webhook endpoints (``webhooks.health.Alert``):
a warning while it fails, before the disable, and the disable. Written in the transaction of
the change they report, one per owner, their address and values sealed as every account mail's
are, and sent whatever the endpoint's environment: they go to the merchant's own people.

Nothing secret goes in: the endpoint's URL is cut to its host and path (``shown_url``), since a
query or a user part may carry a token. Driver statements: the worker writes them inside its
batched record (``worker.store``).
"""

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Integer, String, Text, bindparam, insert

from keys import Sealer

from ..outbox import MAIL_PREFIX
from ..store.models import Mail, table_of
from ..store.raw import Raw, Statement
from ..store.types import UTCDateTime
from ..values.clock import new_id, rfc3339_or_none
from ..webhooks.health import Alert
from . import rows

__all__ = ["MAX_OWNER_MAILS", "mail_each_owner", "mail_owners", "shown_url"]

# A merchant's owners are few; a bound all the same on what one change may write.
MAX_OWNER_MAILS = 20

_M = table_of(Mail)
_KIND = {"failing": rows.ENDPOINT_FAILING, "disabled": rows.ENDPOINT_DISABLED}

_OWNERS = Statement(
    """SELECT u.email FROM merchant_users mu JOIN users u ON u.id = mu.user_id
    WHERE mu.merchant_id = :merchant_id AND mu.role = 'owner'
    ORDER BY u.email LIMIT :most""",
    ("email",),
)
_MAIL = Statement.of(
    insert(_M).values(
        id=bindparam("id", type_=String()),
        env=None,  # a mail to the merchant's people (``rows.ACCOUNT``): sent, never staged
        merchant_id=bindparam("merchant_id", type_=String()),
        kind=bindparam("kind", type_=String()),
        to_sealed=bindparam("to_sealed", type_=Text()),
        data_sealed=bindparam("data_sealed", type_=Text()),
        status=rows.QUEUED,
        attempts=bindparam("zero", type_=Integer()),
        generation=bindparam("zero", type_=Integer()),
        next_attempt_at=bindparam("now", type_=UTCDateTime()),
        created_at=bindparam("now", type_=UTCDateTime()),
        updated_at=bindparam("now", type_=UTCDateTime()),
    )
)


def shown_url(url: str) -> str:
    """An endpoint's URL as a mail shows it: scheme, host, port and path, without the user,
    password, query or fragment a URL may carry a token in."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


async def mail_owners(tx: Raw, sealer: Sealer, alert: Alert, now: datetime) -> list[str]:
    """One mail of ``alert`` per owner of its merchant; the mails to wake for."""
    values = {
        "endpoint_id": alert.endpoint_id,
        "env": alert.env,
        "url": shown_url(alert.url),
        "failing_since": rfc3339_or_none(alert.failing_since),
        **alert.values,
    }
    return await mail_each_owner(tx, sealer, alert.merchant_id, _KIND[alert.kind], values, now)


async def mail_each_owner(
    tx: Raw, sealer: Sealer, merchant_id: str, kind: str, values: dict[str, Any], now: datetime
) -> list[str]:
    """One mail of ``kind`` with ``values`` (nothing secret) per owner of the merchant; the
    mails to wake for."""
    owners = await tx.fetch(_OWNERS, {"merchant_id": merchant_id, "most": MAX_OWNER_MAILS})
    data = json.dumps(values)
    mails: list[dict[str, Any]] = []
    for owner in owners:
        mail_id = new_id(MAIL_PREFIX[:-1])
        mails.append(
            {
                "id": mail_id,
                "merchant_id": merchant_id,
                "kind": kind,
                "to_sealed": sealer.seal(owner["email"], context=mail_id),
                "data_sealed": sealer.seal(data, context=mail_id),
                "zero": 0,
                "now": now,
            }
        )
    if not mails:
        return []
    await tx.executemany(_MAIL, mails)
    return [mail["id"] for mail in mails]
