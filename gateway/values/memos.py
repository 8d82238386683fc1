"""The ledger's words for what the product itself credits (an order paid, a plan's period): written
once into the store in English, which the API's ``description`` carries as it was written, and
read back on a page in the reader's words.

Each is one template, marked for the catalogues: the writer fills it, and the reader matches a
description against the same templates to put it in another language, so the two cannot drift.
A description no template matches (an operator's memo, typed by a person) is shown as written.
"""

import re
from functools import cache
from gettext import NullTranslations

from .marking import marked

__all__ = ["CUSTOM_AMOUNT", "ORDER", "ORDER_OF_PACK", "PERIOD", "read", "written"]

# The one name the product gives what it sells (a custom amount's order), read in the reader's
# words like the templates; a pack's or a plan's name is the operator's, kept as given.
CUSTOM_AMOUNT = marked("Custom amount")

# The most specific first: a pack's name is any text, so "Pro pack (…)" also fits ``ORDER``.
ORDER_OF_PACK = marked("%(name)s pack (%(credits)s credits)")
ORDER = marked("%(name)s (%(credits)s credits)")
PERIOD = {
    "month": marked("%(name)s plan (monthly credits)"),
    "year": marked("%(name)s plan (yearly credits)"),
}
_TEMPLATES = (ORDER_OF_PACK, *PERIOD.values(), ORDER)
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def written(template: str, **values: str) -> str:
    """``template`` filled with ``values``: the description as the store keeps it."""
    return template % values


@cache
def _pattern(template: str) -> re.Pattern[str]:
    parts = _PLACEHOLDER.split(template)
    # split() alternates the text between placeholders and the placeholders' names.
    return re.compile(
        "".join(f"(?P<{part}>.+)" if i % 2 else re.escape(part) for i, part in enumerate(parts)),
        re.S,
    )


def read(description: str, translations: NullTranslations) -> str | None:
    """``description`` in the words of ``translations`` if a template wrote it, else None. The
    values it holds (a pack's name, a figure) are kept as written."""
    for template in _TEMPLATES:
        found = _pattern(template).fullmatch(description)
        if found is not None:
            values = {
                name: translations.gettext(value) if value == CUSTOM_AMOUNT else value
                for name, value in found.groupdict().items()
            }
            return translations.gettext(template) % values
    return None
