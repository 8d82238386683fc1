"""Subjects and bodies: Jinja2 templates in ``templates/``, a text and an HTML body per kind.

The HTML is autoescaped (an address or a merchant's name is never markup); the text is not
escaped, as it is never read as markup. "How to redeem" is one template per provider
(``templates/redeem/<provider>.txt`` and ``.html``): a new provider is a pair of files.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ..values.languages import ENGLISH, Reading, install

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
install(_TEXT)
install(_HTML)


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str


def subject(kind: str, values: dict[str, Any], reading: Reading = ENGLISH) -> str:
    """One line: whitespace in a name (a line break too) is one space, so no header is forged.
    The mails a merchant's recipients read are in ``reading``'s language."""
    _ = reading.gettext
    if kind == "voucher":
        line = _("%(sender)s sent you %(amount)s of %(platform)s credit") % {
            "sender": values["sender"],
            "amount": values["amount"],
            "platform": values["platform"],
        }
    elif kind == "recipient_link":
        line = _("Your page at %(sender)s") % {"sender": values["sender"]}
    elif kind == "endpoint_failing":
        line = f"Webhook endpoint failing: {values['url']} ({values['env']})"
    elif kind == "endpoint_disabled":
        line = f"Webhook endpoint disabled: {values['url']} ({values['env']})"
    elif kind == "auto_top_up_disabled":
        line = f"Auto top-up turned off ({values['env']})"
    elif kind == "environment_freeze":
        done = "frozen" if values["frozen"] else "unfrozen"
        line = f"Your {values['env']} environment was {done} ({values['sender']})"
    elif kind == "treasury_low":
        line = f"Treasury float low: {values['env']} {values['protocol']}"
    elif kind == "treasury_drift":
        line = f"Treasury reconciliation disagrees: {values['env']} {values['protocol']}"
    elif kind == "approval_request":
        line = _("Approve %(amount)s to %(recipient)s? (%(sender)s)") % {
            "amount": values["amount"],
            "recipient": values["recipient"],
            "sender": values["sender"],
        }
    else:
        line = "Reset your aiTopUp password"
    return " ".join(line.split())


def render(kind: str, values: dict[str, Any], reading: Reading = ENGLISH) -> Rendered:
    """The mail of ``kind`` (a template pair of that name) with ``values``, in ``reading``'s
    language."""
    title = subject(kind, values, reading)
    context = {**values, **reading.context(), "subject": title}
    text = _TEXT.get_template(f"{kind}.txt").render(context)
    html = _HTML.get_template(f"{kind}.html").render(context)
    return Rendered(title, text, html)


def redeem_html(values: dict[str, Any], reading: Reading = ENGLISH) -> str:
    """ "How to redeem" for ``values["provider"]``, as HTML (escaped): the e-mail's block, for
    the recipient's page too."""
    template = _HTML.get_template(f"redeem/{values['provider']}.html")
    return template.render({**values, **reading.context()})
