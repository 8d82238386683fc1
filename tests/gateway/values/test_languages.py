"""The one rule that chooses a reader's language, Babel's formats per locale, and the catalogues:
every text marked for translation has a Chinese and a Japanese translation that keeps its
placeholders and markup."""

import functools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from jinja2 import DictLoader, Environment

from gateway.values import languages
from gateway.values.languages import Catalogues, choose, from_header, moment_in, money_in

ROOT = Path(__file__).resolve().parents[3]
TRANSLATED = [each for each in languages.LANGUAGES if each != languages.DEFAULT]
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")  # a name put in as text, or a count
TAG = re.compile(r"</?[a-z]+[^>]*>")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ja-JP,ja;q=0.9,en;q=0.5", "ja"),
        ("zh-CN", "zh"),
        ("zh-Hans-CN,zh;q=0.9", "zh"),
        ("zh-TW;q=0.8, en;q=0.9", "en"),  # by weight, not by order
        ("en-GB;q=0.1,ja;q=0", "en"),  # q=0: not acceptable
        ("fr-FR,de;q=0.9", None),
        ("*", None),
        ("ja;q=banana,zh", "zh"),  # a malformed weight drops that entry only
        ("", None),
        (None, None),
    ],
)
def test_accept_language_is_negotiated_by_weight(header: str | None, expected: str | None) -> None:
    assert from_header(header) == expected


def test_an_outsiders_header_is_read_only_so_far() -> None:
    # Japanese past the entries read: never reached, however long the header.
    header = ",".join(["fr"] * 40 + ["ja"])
    assert from_header(header) is None
    assert from_header("x" * 100_000 + ",ja") is None


def test_the_rule_person_then_merchant_then_browser_then_english() -> None:
    assert choose(person="ja", merchant="zh", header="zh") == "ja"
    assert choose(person=None, merchant="zh", header="ja") == "zh"
    assert choose(person=None, merchant=None, header="ja") == "ja"
    assert choose() == "en"
    # A stored value we do not speak (a language removed later) falls through, never fails.
    assert choose(person="klingon", merchant="fr", header="zh-CN") == "zh"


def test_money_and_moments_are_written_as_each_locale_does() -> None:
    assert money_in(123456, "en") == "$1,234.56"
    assert money_in(-100, "en") == "-$1.00"
    assert money_in(123456, "zh") == "US$1,234.56"
    assert money_in(123456, "ja") == "$1,234.56"
    assert money_in(None, "ja") == "—"
    now = datetime(2026, 11, 23, 23, 30, tzinfo=UTC)
    assert moment_in(now - timedelta(minutes=5), now, "zh") == "2026-11-23 23:25 UTC (5分钟前)"
    assert moment_in(now - timedelta(minutes=5), now, "ja") == "2026-11-23 23:25 UTC (5 分前)"


def test_html_lang_names_the_script_where_fonts_need_it() -> None:
    assert [languages.html_lang(each) for each in languages.LANGUAGES] == ["en", "zh-Hans", "ja"]


def _string(message: Message) -> str:
    found = message.string
    return str(found[0] if isinstance(found, tuple) else found)


@functools.cache
def _marked() -> frozenset[str]:
    """Every text marked for translation in the sources, as ``make messages`` extracts it."""
    method_map = [
        ("gateway/**.py", "python"),
        ("gateway/dashboard/templates/**.html", "jinja2"),
        ("gateway/mail/templates/**.html", "jinja2"),
        ("gateway/mail/templates/**.txt", "jinja2"),
    ]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "marked": None}
    found: set[str] = set()
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT), method_map, keywords=keywords, comment_tags=()
    ):
        found.add(message if isinstance(message, str) else message[0])
    return frozenset(found)


def test_the_extraction_the_catalogues_come_from_is_the_documented_one() -> None:
    config = (ROOT / "babel.cfg").read_text()
    for pattern in ("gateway/**.py", "dashboard/templates/**.html", "mail/templates/**.txt"):
        assert pattern in config


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_marked_text_is_translated_keeping_placeholders_and_markup(language: str) -> None:
    path = languages.FOLDER / language / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as po:
        catalog = read_po(po)
    # A plural entry by its singular, translated by its one form (neither language inflects).
    entries = {(m.id[0] if isinstance(m.id, tuple) else m.id): m for m in catalog if m.id}
    marked = _marked()
    assert marked, "nothing extracted: the extraction is broken"
    missing = sorted(m for m in marked if m not in entries or not _string(entries[m]))
    assert not missing, f"{language}: no translation for {missing} (run `make messages`)"
    fuzzy = sorted(m for m in marked if entries[m].fuzzy)
    assert not fuzzy, f"{language}: fuzzy (unconfirmed) translations for {fuzzy}"
    for message in marked:
        translated = _string(entries[message])
        assert sorted(PLACEHOLDER.findall(translated)) == sorted(PLACEHOLDER.findall(message)), (
            message
        )
        assert sorted(TAG.findall(translated)) == sorted(TAG.findall(message)), message
        # A stray % would break the format a template applies to every message.
        assert "%" not in PLACEHOLDER.sub("", translated), message


def test_catalogues_are_read_once_and_english_is_the_source() -> None:
    catalogues = Catalogues.load()
    assert catalogues.of("zh").gettext("Sign in") == "登录"
    assert catalogues.of("ja").gettext("Sign in") == "サインイン"
    assert catalogues.of("en").gettext("Sign in") == "Sign in"
    assert catalogues.of("xx").gettext("Sign in") == "Sign in"


def test_templates_escape_what_is_put_into_a_translated_sentence() -> None:
    env = Environment(
        loader=DictLoader(
            {"t": '{{ _("Your credit at %(merchant)s", merchant=name) }}'},
        ),
        autoescape=True,
    )
    languages.install(env)
    reading = Catalogues.load().reading("ja")
    shown = env.get_template("t").render({"name": "<b>Shop</b>", **reading.context()})
    assert shown == "&lt;b&gt;Shop&lt;/b&gt; でのクレジット"
