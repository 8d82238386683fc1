"""What every provider's try is given and gives back."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from keys import Sealer

from ...store.db import Database
from ...values.settings import Settings
from ..upstream import Upstream

__all__ = ["Made", "Try"]


@dataclass(frozen=True, slots=True)
class Try:
    """One try of a top-up's upstream work: the top-up (``topup``, its row), our reference
    upstream, the try's number (1 is the send's own), and what calling out needs."""

    db: Database
    sealer: Sealer
    settings: Settings
    upstream: Upstream
    http: httpx.AsyncClient  # the top-up's environment's checked client
    topup: Any
    reference: str
    number: int
    now: Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class Made:
    """What the top-up's ``voucher_code`` is (New API's code, or our voucher where the upstream's
    credential reaches the recipient alone), and our reference upstream."""

    voucher: str
    reference: str
