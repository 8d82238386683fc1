"""Every page answers for a signed-in merchant."""

import re

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


async def test_the_footer_opens_the_api_explorer_in_the_readers_language(sign_up: SignUp) -> None:
    account = await sign_up()
    page = (await account.client.get("/", headers={"Accept-Language": "zh-CN"})).text
    footer = page[page.index('<footer class="foot">') :]
    assert '<a href="/docs?lang=zh">' in footer


@pytest.mark.parametrize(
    ("path", "title"),
    [
        ("/", "Overview"),
        ("/wallet", "Wallet"),
        ("/webhooks", "Webhooks"),
        ("/webhooks/deliveries", "Delivery log"),
        ("/topups", "Top-ups"),
        ("/keys", "API keys"),
        ("/developers", "Developers"),
    ],
)
async def test_a_pages_heading_names_its_environment_in_one_form(
    sign_up: SignUp, path: str, title: str
) -> None:
    account = await sign_up()
    page = (await account.client.get(path)).text
    [heading] = re.findall(r"<h1>.*?</h1>", page)
    assert heading == f'<h1>{title} <span class="muted">· Staging</span></h1>'
