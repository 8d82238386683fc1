"""Every page answers for a signed-in merchant."""

import pytest

from tests.fixtures.dashboard import SignUp


@pytest.mark.parametrize("path", ["/", "/keys", "/topups", "/developers"])
async def test_page_answers(sign_up: SignUp, path: str) -> None:
    account = await sign_up()
    reply = await account.client.get(path)
    assert reply.status_code == 200, reply.text
