"""Subjects and bodies: Jinja2 templates in ``templates/``, a text and an HTML body per kind.

The HTML is autoescaped (an address or a merchant's name is never markup); the text is not
escaped, as it is never read as markup. "How to redeem" is one template per provider
(``templates/redeem/<provider>.txt`` and ``.html``): a new provider is a pair of files.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

__all__ = ["Rendered", "redeem_html", "render", "subject"]

_FOLDER = Path(__file__).parent / "templates"
_TEXT = Environment(
    loader=FileSystemLoader(_FOLDER),
    autoescape=False,  # noqa: S701 (plain-text mail, never read as markup)
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
_HTML = Environment(
    loader=FileSystemLoader(_FOLDER),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
)


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def subject(kind: str, values: dict[str, Any]) -> str:
    """One line: whitespace in a name (a line break too) is one space, so no header is forged."""
    if kind == "voucher":
        line = f"{values['sender']} sent you {values['amount']} of {values['platform']} credit"
    elif kind == "recipient_link":
        line = f"Your page at {values['sender']}"
    elif kind == "endpoint_failing":
        line = f"Webhook endpoint failing: {values['url']} ({values['env']})"
    elif kind == "endpoint_disabled":
        line = f"Webhook endpoint disabled: {values['url']} ({values['env']})"
    elif kind == "environment_freeze":
        done = "frozen" if values["frozen"] else "unfrozen"
        line = f"Your {values['env']} environment was {done} ({values['sender']})"
    elif kind == "approval_request":
        line = f"Approve {values['amount']} to {values['recipient']}? ({values['sender']})"
    else:
        line = "Reset your aiTopUp password"
    return " ".join(line.split())


def render(kind: str, values: dict[str, Any]) -> Rendered:
    """The mail of ``kind`` (a template pair of that name) with ``values``."""
    title = subject(kind, values)
    context = {**values, "subject": title}
    text = _TEXT.get_template(f"{kind}.txt").render(context)
    html = _HTML.get_template(f"{kind}.html").render(context)
    return Rendered(title, text, html)


def redeem_html(values: dict[str, Any]) -> str:
    """ "How to redeem" for ``values["provider"]``, as HTML (escaped): the e-mail's block, for
    the recipient's page too."""
    return _HTML.get_template(f"redeem/{values['provider']}.html").render(values)
