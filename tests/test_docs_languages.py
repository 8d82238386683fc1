"""The first docs a merchant reads, in Chinese and Japanese: each page is there, linked from the
English one and back, and its code is the English page's (the tested snippets, unchanged)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = {
    "quickstart.md": "docs/quickstart.md",
    "keys.md": "docs/keys.md",
    "webhooks.md": "docs/webhooks.md",
}
FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


@pytest.mark.parametrize("language", ["zh", "ja"])
@pytest.mark.parametrize("page", sorted(PAGES))
def test_each_page_is_translated_and_linked_both_ways(language: str, page: str) -> None:
    translated = ROOT / "docs" / language / page
    english = ROOT / PAGES[page]
    text = translated.read_text()
    assert english.read_text().count(f"{language}/{page})") == 1
    # Back to the English page, relative to the translation.
    back = Path("..") / page
    assert f"({back.as_posix()}" in text
    # Whatever is Python here is Python the English page holds (its tests run it).
    for snippet in FENCE.findall(text):
        assert snippet in english.read_text()
    assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text)
