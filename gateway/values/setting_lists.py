"""The comma-separated lists the settings hold, parsed: delay schedules, amounts in cents,
discount tiers, and the origins and hosts ``/mcp`` serves. A list that does not parse raises
``ValueError``, which the settings' validators turn into a bad setting."""

import functools
from urllib.parse import urlsplit

__all__ = ["cents_list", "hosts", "origins", "schedule", "tiers"]


@functools.lru_cache(maxsize=64)
def schedule(text: str) -> tuple[float, ...]:
    """Parsed once: every delivery attempt reads it."""
    return tuple(float(part) for part in text.split(",") if part.strip())


@functools.lru_cache(maxsize=16)
def origins(listed: str, public_base_url: str | None) -> frozenset[str]:
    found = {part.strip().rstrip("/").lower() for part in listed.split(",") if part.strip()}
    if public_base_url:
        parts = urlsplit(public_base_url)
        found.add(f"{parts.scheme}://{parts.netloc}".lower())
    return frozenset(found)


@functools.lru_cache(maxsize=16)
def hosts(listed: str, public_base_url: str | None) -> frozenset[str]:
    named = [*listed.split(","), public_base_url or ""]
    # ``urlsplit`` reads ``name``, ``name:port`` and ``[v6]:port`` alike, and lowers the case.
    found = {urlsplit(part if "//" in part else f"//{part.strip()}").hostname for part in named}
    return frozenset(name for name in found if name)


def cents_list(value: str) -> tuple[int, ...]:
    """``"1000,2000"`` → ``(1000, 2000)``: positive whole cents, at most 20."""
    try:
        found = sorted({int(part) for part in value.split(",") if part.strip()})
    except ValueError:
        raise ValueError("a comma-separated list of whole cents") from None
    if any(c <= 0 for c in found) or len(found) > 20:
        raise ValueError("at most 20 amounts, each a positive number of cents")
    return tuple(found)


def tiers(value: str) -> tuple[tuple[int, int], ...]:
    """``"10000:5,50000:10"`` → ``((10000, 5), (50000, 10))``: from that many cents, that
    percent off (1 to 90), at most 20 tiers, one per threshold."""
    found: dict[int, int] = {}
    for part in value.split(","):
        if not part.strip():
            continue
        try:
            at, percent = (int(x) for x in part.split(":"))
        except ValueError:
            raise ValueError("tiers are <from cents>:<percent off>, comma-separated") from None
        if at <= 0 or not 1 <= percent <= 90 or at in found:
            raise ValueError("each tier: positive cents, 1 to 90 percent off, once per amount")
        found[at] = percent
    if len(found) > 20:
        raise ValueError("at most 20 discount tiers")
    return tuple(sorted(found.items()))
