"""The README opens with the two commands and a quick start under a screen, and links a page
per job; the code table of docs/api.md is the catalogue's, row for row."""

import re
from pathlib import Path

from gateway.cli import LISTEN_PORT
from gateway.values.codes import CATALOGUE

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def test_the_api_page_lists_every_code_as_the_catalogue_does() -> None:
    text = (DOCS / "api.md").read_text()
    rows = re.findall(r"^\| (\d{4}) \| (\d{3}) \| `(\w+)` \| (.+?) \|$", text, re.M)
    listed = {int(code): (int(status), name, message) for code, status, name, message in rows}
    expected = {int(c): (i.http_status, c.name, i.message) for c, i in CATALOGUE.items()}
    assert listed == expected


def test_readme_opens_with_the_two_commands() -> None:
    opening = "\n".join(README.read_text().splitlines()[:15])
    assert "make run" in opening
    assert "make test" in opening


def test_the_quick_start_is_the_first_screen() -> None:
    """What a newcomer sees before scrolling: the two commands, then ``make run``'s output, the
    send and its reply, the webhook and the dashboard's link; how the tests run is a link."""
    screen = "\n".join(README.read_text().splitlines()[:55])
    for seen in ("\n## Quick start\n", "/topup/send", "/webhooks/endpoints", "printed link"):
        assert seen in screen, seen
    assert "TEST_WORKERS" not in screen and "docs/architecture.md#the-tests" in screen


def test_readme_quick_start_reads_in_under_a_screen() -> None:
    text = README.read_text()
    start = text.index("\n## Quick start\n")
    end = text.index("\n## ", start + 1)
    assert len(text[start:end].splitlines()) <= 50


def test_every_page_the_readme_links_is_there() -> None:
    links = re.findall(r"\]\((docs/[^)#]+)", README.read_text())
    assert len(set(links)) >= 15
    for link in links:
        assert (ROOT / link).is_file(), link


def test_every_docs_page_links_resolve() -> None:
    for page in DOCS.rglob("*.md"):
        for link in re.findall(r"\]\((?!https?:|mailto:|#)([^)#\s]+)", page.read_text()):
            assert (page.parent / link).exists(), f"{page.name}: {link}"


def test_topups_balance_row_names_every_field_of_the_reply() -> None:
    from gateway.topup.schemas import BalanceData

    [row] = re.findall(
        r"^\| `GET /api/public/v1/balance` \| `\{([^}]*)\}`",
        (DOCS / "topups.md").read_text(),
        re.M,
    )
    named = {part.split()[0] for part in row.split(", ")}
    assert named == set(BalanceData.model_fields)


def test_the_readmes_other_port_leaves_the_listeners_free() -> None:
    """A newcomer whose port 8000 is taken runs ``make run`` on the port the README suggests;
    the quick start's endpoint and ``aitopup listen`` then still have theirs."""
    other = re.search(r"make run PORT=(\d+)", README.read_text())
    assert other is not None
    assert int(other.group(1)) != LISTEN_PORT
    for page in (README, DOCS / "quickstart.md", DOCS / "zh" / "quickstart.md"):
        assert f"http://127.0.0.1:{LISTEN_PORT}/hook" in page.read_text(), page
