"""Every page answers for a signed-in merchant."""

import pytest

from tests.fixtures.dashboard import SignUp


@pytest.mark.parametrize("path", ["/", "/keys", "/topups", "/developers"])
async def test_page_answers(sign_up: SignUp, path: str) -> None:
    account = await sign_up()
    reply = await account.client.get(path)
    assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("path", ["/", "/wallet", "/webhooks", "/settings"])
async def test_every_page_links_to_the_api_reference_and_the_changelog(
    sign_up: SignUp, path: str
) -> None:
    account = await sign_up()
    page = (await account.client.get(path)).text
    footer = page[page.index('<footer class="foot">') :]
    assert '<a href="/changelog">Changelog</a>' in footer
    assert '<a href="/docs">API explorer</a>' in footer
