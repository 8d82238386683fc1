"""The docs a merchant reads in its first day, in Chinese and Japanese: each page is there,
linked from the English one and back, its code is the English page's (every block, curl, JSON,
shell and a start's output, byte for byte unless put in the reader's words), it has the English
page's sections, so an English page that gains one fails here until its translations do (keys
and webhooks are translated in part, what a merchant needs first, and operations in its part
behind PgBouncer, and send the reader to the English page for the rest: they are left out of
that check), every setting and code its words name is named there too, and the buttons and pages
it names are named as the reader's dashboard names them."""

import re
from functools import cache
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = (
    "quickstart.md",
    "keys.md",
    "webhooks.md",
    "approvals.md",
    "mcp.md",
    "api.md",
    "fleets.md",
    "agents-that-pay.md",
    "apps.md",
    "billing.md",
    "operations.md",
)
# Translated whole: every section of the English page is there.
WHOLE = tuple(page for page in PAGES if page not in ("keys.md", "webhooks.md", "operations.md"))
LANGUAGES = ("zh", "ja")
FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)
# A fenced block is cut before headings are read: a ``#`` comment in a shell snippet is none.
BLOCK = re.compile(r"^```.*?^```", re.M | re.S)
HEADING = re.compile(r"^(#{1,6}) ", re.M)
# Every fenced block, a list item's indented ones too.
FENCED = re.compile(r"^ *```.*?^ *```", re.M | re.S)
CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# The names a block holds, whatever language its words are in: identifiers, paths, codes.
NAME = re.compile(r"[\w./-]*[_./\d][\w./-]*")
INLINE = re.compile(r"`[^`\n]*`")
# How each language quotes the words of a page it names: “发送充值”, 「チャージを送る」.
QUOTED = {
    "en": re.compile(r'"([^"]{1,80})"'),
    "zh": re.compile(r"“([^”]{1,80})”"),
    "ja": re.compile(r"「([^」]{1,80})」"),
}
CATALOGUES = ROOT / "gateway" / "locales"


def _levels(text: str) -> list[int]:
    """Each heading's level, in the page's order."""
    return [len(marks) for marks in HEADING.findall(BLOCK.sub("", text))]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", PAGES)
def test_each_page_is_translated_and_linked_both_ways(language: str, page: str) -> None:
    translated = DOCS / language / page
    english = DOCS / page
    text = translated.read_text()
    assert english.read_text().count(f"{language}/{page})") == 1
    # Back to the English page, relative to the translation.
    back = Path("..") / page
    assert f"({back.as_posix()}" in text
    # Whatever is Python here is Python the English page holds (its tests run it).
    for snippet in FENCE.findall(text):
        assert snippet in english.read_text()
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", WHOLE)
def test_each_translation_has_the_english_pages_sections(language: str, page: str) -> None:
    """As many headings of each level as the English page, in the same order of levels: an
    English page that gains a section fails here until each of its translations has it."""
    translated = DOCS / language / page
    assert _levels(translated.read_text()) == _levels((DOCS / page).read_text())


def _blocks(text: str) -> list[str]:
    return FENCED.findall(text)


def _prose(text: str) -> str:
    """The page's words on one line each way: no block, no inline code, a line break a space."""
    return " ".join(INLINE.sub("", FENCED.sub("", text)).split())


@cache
def _catalogue(language: str) -> dict[str, str]:
    """The dashboard's words in ``language``: each English phrase and the one shown for it."""
    with (CATALOGUES / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return {
            m.id: m.string
            for m in read_po(po)
            if isinstance(m.id, str) and isinstance(m.string, str) and m.id and m.string
        }


def _label(english: str) -> re.Pattern[str]:
    """A label as a pattern: its placeholders (``%(host)s``) match any word."""
    return re.compile(r"\S+".join(re.escape(part) for part in re.split(r"%\(\w+\)s", english)))


def _ui_word(phrase: str, catalogue: dict[str, str]) -> str | None:
    """The dashboard's label ``phrase`` quotes (a placeholder matching whatever it holds), if it
    quotes one: a label starts with a capital, a lower-case quote is a value ("both", "held")."""
    if not phrase[0].isupper():
        return None
    if phrase in catalogue:
        return phrase
    matching = (english for english in catalogue if "%(" in english)
    return next((english for english in matching if _label(english).fullmatch(phrase)), None)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", PAGES)
def test_each_code_block_is_the_english_pages(language: str, page: str) -> None:
    """Each block of the English page, in its order (a page translated in part: those it
    keeps), byte for byte where the translation leaves it in English (a curl, a reply, a
    start's output); one put in the reader's words (a table of states) keeps every name the
    English block holds."""
    english = _blocks((DOCS / page).read_text())
    translated = _blocks((DOCS / language / page).read_text())
    if page not in WHOLE:
        assert [each for each in english if each in translated] == translated
        return
    assert len(translated) == len(english)
    for theirs, ours in zip(english, translated, strict=True):
        if CJK.search(ours):
            assert set(NAME.findall(theirs)) <= set(NAME.findall(ours)), theirs
        else:
            assert ours == theirs


# A code span, of one backtick or more (a span that holds a backtick: ``` `` `x` `` ```).
SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
# What a reader acts on by its name, whatever the language: a setting and a reply's code.
ACTED_ON = re.compile(r"\bAITOPUP_[A-Z0-9_]+\b|^\d{4}$")


def _acted_on(text: str) -> set[str]:
    """The settings and codes the page's words name in code (not its blocks)."""
    found: set[str] = set()
    for _, span in SPAN.findall(FENCED.sub("", text)):
        found.update(ACTED_ON.findall(span.strip()))
    return found


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", WHOLE)
def test_each_setting_and_code_the_english_page_names_the_translation_names(
    language: str, page: str
) -> None:
    """Every setting (``AITOPUP_…``) and code (``4671``) the English page's words name, its
    translation names too: a sentence the English page gained (a setting, a refusal) fails here
    until each translation says it, where the sections and blocks alone would not tell."""
    missing = _acted_on((DOCS / page).read_text()) - _acted_on((DOCS / language / page).read_text())
    assert not missing, f"docs/{language}/{page} lacks what docs/{page} names: {sorted(missing)}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("page", WHOLE)
def test_the_buttons_a_page_names_are_the_readers_dashboards(language: str, page: str) -> None:
    """A button or page the English page quotes by its label ("Take back a voucher") is
    quoted in the translation by the label the reader's dashboard shows, and no label is
    quoted in English where the reader sees it in their language."""
    catalogue = _catalogue(language)
    prose = _prose((DOCS / language / page).read_text())
    for phrase in QUOTED["en"].findall(_prose((DOCS / page).read_text())):
        label = _ui_word(phrase, catalogue)
        if label is not None:
            said = catalogue[label]
            assert _label(said).search(prose), f"{phrase!r} is {said!r} here"
    for phrase in QUOTED[language].findall(prose) + QUOTED["en"].findall(prose):
        label = _ui_word(phrase, catalogue)
        assert label is None or catalogue[label] == label, f"{phrase!r} reads {catalogue[label]!r}"
