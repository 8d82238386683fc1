"""The languages people read the product in, and which one a page or an e-mail is in.

One rule chooses (``choose``): the signed-in person's own setting, else the language a reader
picked on a page (the switcher offered when signed out), else the merchant's language
for the people it sends to (its recipients' page and e-mail), else the browser's
``Accept-Language`` (Babel's negotiation), else English. The words come from gettext catalogues
(``gateway/locales/<language>/LC_MESSAGES/messages.po``), read once when the process starts
(``Catalogues.load``) and handed to whatever renders; the ``.po`` files are compiled in memory
with Babel's documented API, so no build output is ever shipped or committed.
"""

import functools
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from gettext import NullTranslations
from pathlib import Path
from typing import Any

from babel import Locale, negotiate_locale
from babel.dates import format_datetime, format_timedelta
from babel.lists import format_list
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from babel.support import Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context

from . import memos
from .platforms import name_of

__all__ = [
    "DEFAULT",
    "ENGLISH",
    "FOLDER",
    "LANGUAGES",
    "NAMES",
    "Catalogues",
    "Reading",
    "choose",
    "from_header",
    "html_lang",
    "install",
    "known",
    "moment_in",
    "money_in",
]

DEFAULT = "en"
# Simplified Chinese and Japanese beside English; a new language is a line here and a catalogue.
LANGUAGES = ("en", "zh", "ja")
# Each as its own speakers name it: the switcher shows these, untranslated on purpose.
NAMES = {"en": "English", "zh": "简体中文", "ja": "日本語"}
_LOCALES = {"en": "en_US", "zh": "zh_Hans_CN", "ja": "ja_JP"}
_HTML_LANG = {"en": "en", "zh": "zh-Hans", "ja": "ja"}
FOLDER = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"

# An Accept-Language header is the browser's (anyone's) text: read this much of it, this many
# entries, and no more.
_HEADER_CAP = 512
_ENTRIES_CAP = 16


def known(value: object) -> str | None:
    """``value`` if it is one of ``LANGUAGES``, else ``None`` (a stored or posted setting)."""
    return value if isinstance(value, str) and value in LANGUAGES else None


def html_lang(language: str) -> str:
    """The BCP 47 tag ``<html lang>`` carries (``zh-Hans``: the script, as fonts need)."""
    return _HTML_LANG.get(language, DEFAULT)


def from_header(header: str | None) -> str | None:
    """The best of ``LANGUAGES`` for an ``Accept-Language`` header, by its q-values, or
    ``None``: nothing there that we speak (the caller falls back)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, entry in enumerate(header[:_HEADER_CAP].split(",")[:_ENTRIES_CAP]):
        tag, _, params = entry.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                continue
        if weight > 0:
            ranked.append((-weight, position, tag))
    preferred = [tag for _, _, tag in sorted(ranked)]
    # No aliases: "zh-TW" falls to "zh" by its language part, as Babel documents.
    found = negotiate_locale(preferred, LANGUAGES, sep="-", aliases={})
    return known(found)


def choose(
    *,
    person: str | None = None,
    picked: str | None = None,
    merchant: str | None = None,
    header: str | None = None,
) -> str:
    """The one rule: a signed-in person's setting, else the language the reader picked on a
    page (``picked``: the switcher's ``?lang=``, kept in a cookie), else the merchant's for its
    recipients, else the browser's ``Accept-Language``, else English."""
    return known(person) or known(picked) or known(merchant) or from_header(header) or DEFAULT


def money_in(cents: int | None, language: str) -> str:
    """Integer cents as the reader's locale writes US dollars (``$1,234.56``, ``US$1,234.56``)."""
    if cents is None:
        return "—"
    amount = Decimal(cents).scaleb(-2)
    return format_currency(amount, "USD", locale=_LOCALES.get(language, "en_US"))


def moment_in(moment: datetime, now: datetime, language: str) -> str:
    """``2026-11-23 23:30 UTC`` and how long ago, in the reader's words (``5分钟前``)."""
    locale = _LOCALES.get(language, "en_US")
    stamp = format_datetime(moment, "yyyy-MM-dd HH:mm 'UTC'", tzinfo=None, locale=locale)
    ago = format_timedelta(moment - now, add_direction=True, format="short", locale=locale)
    return f"{stamp} ({ago})"


@dataclass(frozen=True, slots=True)
class Reading:
    """One reader's language and its words: what a render is given."""

    language: str
    translations: NullTranslations

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def context(self) -> dict[str, Any]:
        """What every template reads: ``_()`` finds ``translations``; filters, ``language``."""
        return {
            "language": self.language,
            "html_lang": html_lang(self.language),
            "translations": self.translations,
        }


ENGLISH = Reading(DEFAULT, NullTranslations())


class Catalogues:
    """Every language's translations, read once; ``NullTranslations`` (the source's English)
    for English and for anything unknown."""

    def __init__(self, by_language: Mapping[str, NullTranslations]) -> None:
        self._by_language = dict(by_language)
        self._english = NullTranslations()

    @classmethod
    def load(cls, folder: Path = FOLDER) -> "Catalogues":
        return cls(_compiled(folder))

    def of(self, language: str) -> NullTranslations:
        return self._by_language.get(language, self._english)

    def reading(self, language: str) -> Reading:
        return Reading(language, self.of(language))


@functools.cache
def _compiled(folder: Path) -> Mapping[str, NullTranslations]:
    """The translations in ``folder``, read and compiled once a process: every app and worker
    a process starts (the tests start hundreds) reads the same files, and a ``Translations`` is
    only ever read."""
    found: dict[str, NullTranslations] = {}
    for language in LANGUAGES:
        path = folder / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        if language == DEFAULT or not path.exists():
            continue
        with path.open("rb") as po:
            catalog = read_po(po, locale=Locale.parse(_LOCALES[language]), domain=DOMAIN)
        compiled = io.BytesIO()
        # Fuzzy entries are a translator's guess: shown as English until confirmed.
        write_mo(compiled, catalog, use_fuzzy=False)
        compiled.seek(0)
        found[language] = Translations(compiled, domain=DOMAIN)
    return found


def _translations(context: Context) -> NullTranslations:
    found = context.get("translations")
    return found if isinstance(found, NullTranslations) else NullTranslations()


@pass_context
def _gettext(context: Context, message: str) -> str:
    return _translations(context).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, n: int) -> str:
    return _translations(context).ngettext(singular, plural, n)


@pass_context
def _said(context: Context, message: object) -> str:
    """``message`` in the reader's words when the catalogue has it, else as it is: for text
    written in Python and handed to a page (a field's error, an error page's sentence), never
    read as a format, so a message the catalogue lacks (the API's own) shows unchanged."""
    text = str(message)
    return _translations(context).gettext(text) if text else text


@pass_context
def _memo(context: Context, description: object) -> str:
    """A ledger entry's description in the reader's words: one the product wrote (``memos``)
    put into them, else one the catalogue has, else as it was written (an operator's memo)."""
    text = str(description or "")
    translations = _translations(context)
    read = memos.read(text, translations)
    return read if read is not None else _said(context, text)


@pass_context
def _listed(context: Context, items: Iterable[object]) -> str:
    """Items as one list in the reader's language (``A, B, and C``; ``A、B和C``; ``A、B、C``)."""
    language = context.get("language")
    locale = _LOCALES.get(language if isinstance(language, str) else DEFAULT, "en_US")
    return format_list([str(item) for item in items], locale=locale)


def install(env: Environment) -> None:
    """Jinja2's ``i18n`` extension on ``env``, its words from the ``translations`` each render is
    given (``Catalogues.of``): one environment serves every language. New-style gettext, so a
    value put into a sentence is escaped like any other (``_("Hi %(name)s", name=...)``); the
    ``said`` filter translates a message marked in Python (``{{ message|said }}``); the
    ``platform`` filter writes a platform's one display name."""
    env.add_extension("jinja2.ext.i18n")
    # The extension adds this method to the environment; Jinja's stubs do not know it.
    installer: Any = env
    installer.install_gettext_callables(_gettext, _ngettext, newstyle=True)
    env.filters["said"] = _said
    env.filters["memo"] = _memo
    env.filters["listed"] = _listed
    # A platform as every reader sees it, in every language: ``{{ topup.platform|platform }}``.
    env.filters["platform"] = name_of
