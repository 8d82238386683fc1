"""The README's code table is the catalogue's, row for row."""

import re
from pathlib import Path

from gateway.values.codes import CATALOGUE

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_lists_every_code_as_the_catalogue_does() -> None:
    rows = re.findall(r"^\| (\d{4}) \| (\d{3}) \| `(\w+)` \| (.+?) \|$", README.read_text(), re.M)
    listed = {int(code): (int(status), name, message) for code, status, name, message in rows}
    expected = {int(c): (i.http_status, c.name, i.message) for c, i in CATALOGUE.items()}
    assert listed == expected


def test_readme_opens_with_the_two_commands() -> None:
    opening = "\n".join(README.read_text().splitlines()[:15])
    assert "make run" in opening
    assert "make test" in opening


def test_readme_balance_row_names_every_field_of_the_reply() -> None:
    from gateway.topup.schemas import BalanceData

    [row] = re.findall(
        r"^\| `GET /api/public/v1/balance` \| `\{([^}]*)\}`", README.read_text(), re.M
    )
    named = {part.split()[0] for part in row.split(", ")}
    assert named == set(BalanceData.model_fields)
