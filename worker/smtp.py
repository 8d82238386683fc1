"""The SMTP side of the mail sender: a message built with the stdlib's ``email``, sent with
``aiosmtplib`` to the server ``AITOPUP_SMTP_URL`` names.

``smtp://user:pass@host:port`` speaks STARTTLS when the server offers it (or always, with
``AITOPUP_SMTP_STARTTLS=true``; never, with ``false``); ``smtps://`` is TLS from the first
byte (port 465 by default). Certificates are checked.
"""

import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from urllib.parse import unquote, urlsplit

import aiosmtplib

from gateway.mail.content import Message
from gateway.merchants.names import PRODUCT_NAME

__all__ = ["SmtpError", "SmtpServer", "build", "parse_url", "send"]

SENDER_NAME = PRODUCT_NAME
_ADDRESS = re.compile(r"\S+@\S+")


def _said(text: str) -> str:
    """A server's reply, short, with any address it echoes taken out."""
    return _ADDRESS.sub("<address>", text)[:200]


class SmtpError(Exception):
    """The server refused the mail, or could not be reached; the message says which, never
    with an address or a credential in it."""


@dataclass(frozen=True, slots=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool | None  # aiosmtplib's: None upgrades when the server offers it


def parse_url(url: str, *, starttls: bool | None) -> SmtpServer:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("AITOPUP_SMTP_URL must be smtp://[user:pass@]host[:port] or smtps://…")
    tls = parts.scheme == "smtps"
    return SmtpServer(
        hostname=parts.hostname,
        port=parts.port or (465 if tls else 587),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=tls,
        start_tls=False if tls else starttls,
    )


def build(message: Message, mail_from: str, mail_id: str) -> EmailMessage:
    """The e-mail: text and HTML alternatives, From carrying the merchant's name."""
    name = f"{message.sender} via {SENDER_NAME}" if message.sender else SENDER_NAME
    email = EmailMessage()
    email["From"] = formataddr((" ".join(name.split()), mail_from))
    email["To"] = message.to
    email["Subject"] = message.rendered.subject
    email["Date"] = formatdate(usegmt=True)
    domain = mail_from.rpartition("@")[2] or None
    email["Message-ID"] = make_msgid(idstring=mail_id, domain=domain)
    email.set_content(message.rendered.text)
    email.add_alternative(message.rendered.html, subtype="html")
    return email


async def send(server: SmtpServer, email: EmailMessage, *, seconds: float) -> None:
    """``seconds``: aiosmtplib's timeout for each step (connect, TLS, each command)."""
    try:
        await aiosmtplib.send(
            email,
            hostname=server.hostname,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.use_tls,
            start_tls=server.start_tls,
            timeout=seconds,
        )
    except aiosmtplib.SMTPResponseException as exc:
        raise SmtpError(f"SMTP {exc.code}: {_said(exc.message)}") from None
    except aiosmtplib.SMTPException as exc:
        raise SmtpError(f"SMTP: {type(exc).__name__}") from None
    except OSError as exc:
        raise SmtpError(f"SMTP connection: {exc.strerror or type(exc).__name__}") from None
