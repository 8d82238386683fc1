"""The one name a merchant is shown by, to its recipients and in its e-mails, and the one rule a
name must keep to be set.

A merchant's name goes in front of the gateway's address in the From header of every voucher
e-mail and in its first line, so it is a name and nothing else (``check_name``): trimmed, 1 to
``NAME_MAX`` characters, no control or format characters (line breaks, tabs, bidi overrides),
no e-mail address (no ``@``) and nothing a reader or a mail client could take for a link (a
scheme, ``www.``, anything shaped like a domain, ``example.com``). Every door that sets a name
(sign-up, the dashboard's settings, the admin API, the CLI) checks it here, and the store's
``create_merchant`` again. A name stored before the rule is never shown as it is
(``safe_name``): the merchant's other name when that one keeps the rule, else the product's.
"""

import re
import unicodedata
from typing import Any

__all__ = ["NAME_MAX", "PRODUCT_NAME", "check_name", "display_name", "safe_name"]

NAME_MAX = 60
PRODUCT_NAME = "aiTopUp"

# Control, format (bidi overrides, zero-width characters), line and paragraph separators,
# private use, surrogates and unassigned code points.
_NOT_TEXT = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})
# A dot, and what a reader or a client may take for one.
_DOT = r"[.\u3002\uff0e\uff61]"
_LINKISH = re.compile(
    r"[a-z][a-z0-9+.\-]*:/"  # a scheme: http://, https:/, ftp://
    r"|(?<![^\W_])www"
    + _DOT  # www.
    + r"|[^\W_]"
    + _DOT
    + r"(?:[^\W\d_]{2,}|xn--)",  # a domain: x.tld (a Unicode or IDNA TLD)
    re.IGNORECASE,
)


def check_name(value: str) -> str:
    """``value`` trimmed, when it is a name; else ``ValueError`` saying what to change."""
    name = value.strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise ValueError(f"Enter a name of 1 to {NAME_MAX} characters.")
    if any(unicodedata.category(c) in _NOT_TEXT for c in name):
        raise ValueError("A name cannot hold line breaks, tabs or other control characters.")
    if "@" in name:
        raise ValueError("A name cannot hold an e-mail address (no @).")
    if _LINKISH.search(name):
        raise ValueError("A name cannot hold a link or a domain (such as example.com).")
    return name


def _kept(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return check_name(value)
    except ValueError:
        return None


def safe_name(merchant: Any) -> str | None:
    """The merchant's display name when it has set one, else its name: whichever of them keeps
    the rule, or ``None`` when neither does (a name stored before the rule)."""
    chosen = getattr(merchant, "display_name", None)
    return _kept(chosen) or _kept(merchant.name)


def display_name(merchant: Any) -> str:
    """The name the merchant is shown by: ``safe_name``, else the product's own."""
    return safe_name(merchant) or PRODUCT_NAME
