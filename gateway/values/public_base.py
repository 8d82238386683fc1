"""The gateway's own address, the base of every absolute link and URL it gives out (mail links,
OAuth's resources, the test inbox): ``AITOPUP_PUBLIC_BASE_URL``, else the local gateway's
default. Never a request's ``Host``: its client chooses it."""

from .settings import Settings

__all__ = ["DEFAULT_BASE_URL", "base_url", "public_base"]

DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def base_url(public_base_url: str | None) -> str:
    """Where links point: ``AITOPUP_PUBLIC_BASE_URL``, else the local gateway's default."""
    return (public_base_url or DEFAULT_BASE_URL).rstrip("/")


def public_base(settings: Settings) -> str:
    """The base of every absolute link the gateway gives: ``AITOPUP_PUBLIC_BASE_URL`` (which
    ``aitopup serve`` and ``make run`` set to the address they serve on when it is unset),
    else ``DEFAULT_BASE_URL``."""
    return base_url(settings.public_base_url)
