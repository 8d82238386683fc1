"""The budget pages through their forms: make one, read its spend and who draws on it, change
its windows, freeze and unfreeze, delete; bad amounts beside their field, nothing written."""

import re

import httpx

from tests.fixtures.dashboard import SignUp

_BUDGET = re.compile(r"/dashboard/budgets/(bgt_[0-9a-z]{24})")


def _levels(page: str, budget_id: str) -> str:
    """What the list's row of ``budget_id`` says of its alert levels."""
    row = page[page.index(f'data-budget="{budget_id}"') :]
    found = re.search(r"<td [^>]*data-levels>(.*?)</td>", row)
    assert found is not None
    return found.group(1)


async def test_a_budget_is_made_changed_frozen_and_deleted_on_its_pages(sign_up: SignUp) -> None:
    account = await sign_up()
    made = await account.post(
        "/budgets",
        {
            "name": "Fleet",
            "limit_daily": "10.00",
            "per_platform_amount": "4",
            "per_platform_interval": "weekly",
            "thresholds_percent": "90, 50",
        },
        page="/budgets",
    )
    assert made.status_code == 303, made.text
    found = _BUDGET.fullmatch(made.headers["location"])
    assert found is not None
    page = f"/budgets/{found.group(1)}"
    shown = await account.client.get(page)
    assert shown.status_code == 200
    assert "$10.00" in shown.text and 'value="4.00"' in shown.text
    assert "No key or app draws on this budget" in shown.text
    listed = await account.client.get("/budgets")
    assert f'data-budget="{found.group(1)}"' in listed.text
    # Its alert levels in the list as on its page, in order; a budget without says none.
    assert _levels(listed.text, found.group(1)) == "50%, 90%"
    bare = await account.post("/budgets", {"name": "Bare", "limit_daily": "1"}, page="/budgets")
    bare_id = _BUDGET.fullmatch(bare.headers["location"])
    assert bare_id is not None
    listed = await account.client.get("/budgets", headers={"Accept-Language": "ja"})
    assert _levels(listed.text, bare_id.group(1)) == '<span class="muted">なし</span>'
    assert '<th scope="col">アラートの段階</th>' in listed.text

    changed = await account.post(page, {"name": "Fleet", "limit_weekly": "25"}, page=page)
    assert changed.status_code == 303, changed.text
    shown = await account.client.get(page)
    assert 'data-window="weekly"' in shown.text and 'data-window="daily"' not in shown.text

    frozen = await account.post(f"{page}/freeze", {"frozen": "true"}, page=page)
    assert frozen.status_code == 303
    assert "frozen: admits nothing" in (await account.client.get(page)).text
    await account.post(f"{page}/freeze", {"frozen": "false"}, page=page)
    assert "frozen: admits nothing" not in (await account.client.get(page)).text

    gone = await account.post(f"{page}/delete", {}, page=page)
    assert gone.status_code == 303
    assert (await account.client.get(page)).status_code == 404


async def test_a_bad_amount_is_said_beside_its_field_and_nothing_is_made(sign_up: SignUp) -> None:
    account = await sign_up()
    refused = await account.post(
        "/budgets", {"name": "Fleet", "limit_daily": "ten"}, page="/budgets"
    )
    assert refused.status_code == 422
    assert 'id="f-limit_daily-error"' in refused.text
    assert 'value="ten"' in refused.text
    assert "No staging budgets yet." in refused.text
    for typed, field in (("169", "limit_rolling_hours"), ("", "limit_rolling_hours")):
        rolling = {"name": "Fleet", "limit_rolling": "4", "limit_rolling_hours": typed}
        refused = await account.post("/budgets", rolling, page="/budgets")
        assert refused.status_code == 422
        assert f'id="f-{field}-error"' in refused.text


async def test_levels_beside_a_rolling_window_are_said_beside_their_field(
    sign_up: SignUp,
) -> None:
    """Made or changed, a budget's levels where its only window is rolling are refused beside the
    levels' field (a rolling window never tells them), and nothing is written."""
    account = await sign_up()
    rolling = {"name": "Fleet", "limit_rolling": "20", "limit_rolling_hours": "5"}
    refused = await account.post(
        "/budgets", {**rolling, "thresholds_percent": "50"}, page="/budgets"
    )
    assert refused.status_code == 422, refused.text
    assert 'id="f-thresholds_percent-error"' in refused.text
    assert "No staging budgets yet." in refused.text
    made = await account.post("/budgets", rolling, page="/budgets")
    assert made.status_code == 303, made.text
    page = made.headers["location"].removeprefix("/dashboard")
    changed = await account.post(page, {**rolling, "thresholds_percent": "80"}, page=page)
    assert changed.status_code == 422, changed.text
    assert 'id="f-thresholds_percent-error"' in changed.text


async def test_the_key_form_offers_the_budgets_and_keeps_those_ticked(sign_up: SignUp) -> None:
    account = await sign_up()
    made = await account.post("/budgets", {"name": "Fleet", "limit_daily": "10"}, page="/budgets")
    found = _BUDGET.fullmatch(made.headers["location"])
    assert found is not None
    budget_id = found.group(1)
    keys = await account.client.get("/keys")
    assert f'name="budgets" value="{budget_id}"' in keys.text
    shown = await account.shown_once(
        "/keys", {"name": "agent", "scopes": "topup:send", "budgets": budget_id}, page="/keys"
    )
    assert shown.status_code == 200, shown.text
    budget = await account.client.get(f"/budgets/{budget_id}")
    assert "Key agent" in budget.text
    key = re.search(r'href="/dashboard/keys/(key_[0-9a-z]{24})"', budget.text)
    assert key is not None
    page = await account.client.get(f"/keys/{key.group(1)}")
    assert f'name="budgets" value="{budget_id}" checked' in page.text


async def test_the_approvals_inbox_says_which_budget_a_held_send_draws_on(
    sign_up: SignUp, client: httpx.AsyncClient
) -> None:
    account = await sign_up()
    made = await account.post("/budgets", {"name": "Agents", "limit_daily": "50"}, page="/budgets")
    found = _BUDGET.fullmatch(made.headers["location"])
    assert found is not None
    fields = {
        "name": "agent",
        "scopes": "topup:send",
        "approval_above": "1",
        "budgets": found.group(1),
    }
    shown = await account.shown_once("/keys", fields, page="/keys")
    key = re.search(r'id="new-key">([^<]+)<', shown.text)
    assert key is not None
    body = {"platform": "claude", "amount_cents": 500, "recipient_email": "ada@example.com"}
    held = await client.post(
        "/topup/send", json=body, headers={"Authorization": f"Bearer {key.group(1).strip()}"}
    )
    assert held.json()["code"] == 1006, held.text
    inbox = await account.client.get("/topups/approvals")
    row = re.search(
        rf'data-topup="{held.json()["transaction_id"]}".*?class="budgets">([^<]*)<',
        inbox.text,
        re.S,
    )
    assert row is not None and row.group(1) == "Agents"


_CURRENT = re.compile(r'<nav class="nav".*?</nav>', re.S)


def _current_section(html: str) -> list[str]:
    """The navigation's entries marked as the page's section."""
    found = _CURRENT.search(html)
    assert found is not None
    return re.findall(r'aria-current="page">([^<]+)', found.group())


async def test_a_budget_says_its_environment_and_sits_under_keys(sign_up: SignUp) -> None:
    """A budget's page is headed with its environment, as the list is, and the navigation marks
    the section it is reached from (Keys), as it does for the kill switch; a page under no
    section (the account) marks none, never the overview."""
    account = await sign_up()
    made = await account.post("/budgets", {"name": "Fleet", "limit_daily": "10"}, page="/budgets")
    page = made.headers["location"].removeprefix("/dashboard")
    shown = await account.client.get(page)
    assert re.search(r"<h1>Budget Fleet <span class=\"muted\">· Staging</span></h1>", shown.text)
    for path in (page, "/budgets", "/freeze"):
        assert _current_section((await account.client.get(path)).text) == ["Keys"], path
    assert _current_section((await account.client.get("/telegram")).text) == ["Top-ups"]
    assert _current_section((await account.client.get("/account")).text) == []
    assert _current_section((await account.client.get("/")).text) == ["Overview"]
