"""The code catalogue: the single source of every ``code`` the API answers with.

Bands: 1xxx success, 2xxx auth and keys, 3xxx validation, 4xxx wallet and transactions,
5xxx webhooks, 9xxx internal. A code's number never changes meaning once published.
"""

from .code_infos_auth import AUTH
from .code_infos_internal import INTERNAL
from .code_infos_success import SUCCESS
from .code_infos_validation import VALIDATION
from .code_infos_wallet import WALLET
from .code_infos_webhooks import WEBHOOKS
from .code_names import Code, CodeInfo

__all__ = ["CATALOGUE"]

# One catalogue, its entries kept by band beside it: a code is in exactly one band, its first
# digit's.
CATALOGUE: dict[Code, CodeInfo] = {
    **SUCCESS,
    **AUTH,
    **VALIDATION,
    **WALLET,
    **WEBHOOKS,
    **INTERNAL,
}
