"""The account page: a change of password needs the current one, is counted like a sign-in,
and signs out the user's other sessions; "sign out everywhere" ends every session; on both
stores."""

from starlette.types import ASGIApp

from tests.fixtures.dashboard import (
    PASSWORD,
    SignUp,
    csrf_of,
    dashboard_client,
    sign_in_on,
)

NEW = "a brand new passphrase"


async def test_a_password_change_needs_the_current_one_and_ends_other_sessions(
    app: ASGIApp, sign_up: SignUp
) -> None:
    account = await sign_up()
    async with dashboard_client(app) as elsewhere:
        await sign_in_on(elsewhere, account.email, PASSWORD)
        assert (await elsewhere.get("/keys")).status_code == 200

        wrong = await account.post(
            "/account/password",
            {"current_password": "not the password", "new_password": NEW},
            page="/account",
        )
        assert wrong.status_code == 422 and "not your current password" in wrong.text
        short = await account.post(
            "/account/password",
            {"current_password": PASSWORD, "new_password": "short"},
            page="/account",
        )
        assert short.status_code == 422 and 'id="new_password-error"' in short.text
        assert (await elsewhere.get("/keys")).status_code == 200  # nothing changed yet

        changed = await account.post(
            "/account/password",
            {"current_password": PASSWORD, "new_password": NEW},
            page="/account",
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == "/dashboard/account?notice=password"
        assert (await account.client.get("/keys")).status_code == 200  # this session stays
        gone = await elsewhere.get("/keys")  # the other one is signed out
        assert gone.status_code == 303 and "/dashboard/sign-in" in gone.headers["location"]

    async with dashboard_client(app) as fresh:
        form = await fresh.get("/sign-in")
        old = await fresh.post(
            "/sign-in",
            data={"csrf_token": csrf_of(form.text), "email": account.email, "password": PASSWORD},
        )
        assert old.status_code == 401
        await sign_in_on(fresh, account.email, NEW)


async def test_sign_out_everywhere_ends_every_session(app: ASGIApp, sign_up: SignUp) -> None:
    account = await sign_up()
    async with dashboard_client(app) as elsewhere:
        await sign_in_on(elsewhere, account.email, PASSWORD)
        out = await account.post("/account/sign-out-everywhere", {}, page="/account")
        assert out.status_code == 303 and out.headers["location"] == "/dashboard/sign-in"
        for client in (account.client, elsewhere):
            refused = await client.get("/keys")
            assert refused.status_code == 303
            assert "/dashboard/sign-in" in refused.headers["location"]


async def test_guessing_the_current_password_is_throttled(sign_up: SignUp) -> None:
    account = await sign_up()
    answers = [
        (
            await account.post(
                "/account/password",
                {"current_password": f"guess number {n}", "new_password": NEW},
                page="/account",
            )
        ).status_code
        for n in range(12)
    ]
    assert answers[:10] == [422] * 10 and answers[10:] == [429, 429]
