"""Roles in Chromium: an owner invites a viewer on the Members page; the viewer, signed in
through the invitation's link, reads every page, and the server refuses every form they post
directly (with the page's own CSRF token), whatever the pages showed."""

import uuid

from playwright.async_api import Browser, Page, expect

from gateway.dashboard import permissions
from tests.fixtures.browser import ACTION_MS, DESKTOP, PASSWORD, Merchant, shoot
from tests.fixtures.dashboard import form_path


async def test_a_viewer_is_refused_on_every_form_by_the_server(
    page: Page, signed_up: Merchant, browser: Browser, gateway_url: str
) -> None:
    await (
        page.get_by_role("navigation", name="Sections").get_by_role("link", name="Members").click()
    )
    await expect(page.get_by_role("heading", name="Members", exact=True)).to_be_visible()
    email = f"viewer-{uuid.uuid4().hex[:8]}@example.com"
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Role", exact=True).select_option("viewer")
    await page.get_by_role("button", name="Invite").click()
    link = (await page.locator("#invite-link").inner_text()).strip()
    await shoot(page, "members")
    await page.goto("/dashboard/settings")
    await shoot(page, "settings")

    context = await browser.new_context(viewport=DESKTOP, base_url=gateway_url)
    context.set_default_timeout(ACTION_MS)
    viewer = await context.new_page()
    try:
        await viewer.goto(link)
        await viewer.get_by_label("Password").fill(PASSWORD)
        await viewer.get_by_role("button").last.click()
        await viewer.wait_for_url("**/dashboard/")
        await viewer.goto("/dashboard/keys")
        # The page offers no form they may not use.
        await expect(viewer.get_by_role("button", name="Make key")).to_have_count(0)
        await viewer.goto("/dashboard/members")
        await expect(viewer.get_by_role("button", name="Invite")).to_have_count(0)
        await expect(viewer.get_by_text("You are a viewer.")).to_be_visible()
        await shoot(viewer, "members-viewer")
        token = await viewer.locator('input[name="csrf_token"]').first.get_attribute("value")
        assert token
        for (method, path), action in permissions.FORMS.items():
            if action == "self":
                continue
            url = "/dashboard" + form_path(path)
            reply = await context.request.fetch(
                url,
                method=method,
                form={"csrf_token": token, "name": "x", "email": "x@example.com", "role": "owner"},
                max_redirects=0,
            )
            assert reply.status == 403, (path, reply.status)
            body = await reply.text()
            assert "As a viewer you cannot" in body, path
        # The refusal reads as a page of its own, with the way out.
        await viewer.goto("/dashboard/keys")
        await viewer.evaluate(
            """token => { const f = document.createElement('form'); f.method = 'post';
            f.action = '/dashboard/keys'; const i = document.createElement('input');
            i.type = 'hidden'; i.name = 'csrf_token'; i.value = token; f.append(i);
            document.body.append(f); f.submit(); }""",
            token,
        )
        await expect(viewer.get_by_text("As a viewer you cannot manage API keys")).to_be_visible()
        await shoot(viewer, "refused-viewer")
    finally:
        await context.close()
