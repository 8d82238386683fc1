"""The docs a merchant reads in its first day, in Chinese and Japanese: each page is there,
linked from the English one and back, its code is the English page's (the tested snippets,
unchanged), and it has the English page's sections, so an English page that gains one fails here
until its translations do (keys and webhooks are translated in part, what a merchant needs
first, and operations in its part behind PgBouncer, and send the reader to the English page for
the rest: they are left out of that check)."""

import re
from pathlib import Path

import pytest

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
