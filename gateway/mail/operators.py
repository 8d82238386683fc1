"""Mails to the operator (``AITOPUP_OPERATOR_EMAILS``): the treasury's float below its level,
a reconciliation that disagrees with the provider. Written in the transaction of the change they
report, one per address, their address and values sealed as every account mail's are, and sent
(never staged): they go to the people who run the gateway, in English, as the admin API reads."""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from keys import Sealer

from ..values.settings import Settings
from . import rows

__all__ = ["mail_operators"]


async def mail_operators(
    conn: AsyncConnection,
    sealer: Sealer,
    settings: Settings,
    kind: str,
    values: Mapping[str, Any],
    now: datetime,
) -> list[str]:
    """One mail of ``kind`` with ``values`` (nothing secret) per operator address; the mails
    to wake for (none when no address is set)."""
    written = []
    for address in settings.operator_addresses:
        mail_id = await rows.write(
            conn,
            sealer,
            kind=kind,
            env=rows.ACCOUNT,
            merchant_id=None,
            to=address,
            data=values,
            now=now,
        )
        if mail_id is not None:
            written.append(mail_id)
    return written
