"""The one exception tree of ``keys``. Messages never carry key or secret material."""

__all__ = ["BadSignature", "InvalidApiKey", "InvalidSecret", "KeysError", "SealError"]


class KeysError(Exception):
    """Base of every error raised by ``keys``."""


class InvalidApiKey(KeysError):
    """A string that is not an ``ak_<env>_<32 base62>`` key."""


class InvalidSecret(KeysError):
    """A string that is not a ``whsec_`` webhook secret."""


class BadSignature(KeysError):
    """A webhook signature that is missing, stale or does not match."""


class SealError(KeysError):
    """A sealed value that cannot be opened with the configured key."""
