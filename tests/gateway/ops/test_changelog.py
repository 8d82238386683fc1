"""The changelog, served: the text the repository keeps, as the gateway was built with it."""

from pathlib import Path

import httpx

REPOSITORY_CHANGELOG = Path(__file__).parents[3] / "CHANGELOG.md"


async def test_the_changelog_is_served_as_the_repository_keeps_it(
    ops_client: httpx.AsyncClient,
) -> None:
    reply = await ops_client.get("/changelog")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "text/plain; charset=utf-8"
    assert reply.content == REPOSITORY_CHANGELOG.read_bytes()
    assert reply.text.startswith("# Changelog\n") and "## Version policy" in reply.text
