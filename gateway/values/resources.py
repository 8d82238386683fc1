"""The resources an access token may be bound to (RFC 8707): the gateway's REST API and its MCP
endpoint, each an absolute URI under the public base URL, or the whole gateway (the base
itself). A door accepts a token issued for its own resource or for the whole gateway.
"""

from dataclasses import dataclass

__all__ = [
    "API_PATH",
    "MCP_PATH",
    "PROTECTED_RESOURCE_PATH",
    "Resource",
    "known_resources",
    "normalized",
]

API_PATH = "/api/public/v1"
MCP_PATH = "/mcp"
# Where a protected resource is described (RFC 9728 3.1): this, then the resource's own path.
PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource"


def normalized(uri: str) -> str:
    """A resource as it is compared: without a trailing slash."""
    return uri.rstrip("/")


def known_resources(base: str) -> tuple[str, ...]:
    """Every resource a token may be asked for, under ``base``: the gateway, the API, MCP."""
    base = normalized(base)
    return (base, base + API_PATH, base + MCP_PATH)


@dataclass(frozen=True, slots=True)
class Resource:
    """A door's resource: ``uri`` under ``base``."""

    base: str
    uri: str

    @classmethod
    def of(cls, base: str, path: str) -> "Resource":
        return cls(normalized(base), normalized(base) + path)

    def accepts(self, bound: str | None) -> bool:
        """Whether a token bound to ``bound`` may be used here."""
        return bound is not None and normalized(bound) in (self.uri, self.base)
