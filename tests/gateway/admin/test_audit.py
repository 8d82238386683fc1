"""The admin token check: constant-time, off without a token, actor named by header."""

import pytest
from starlette.requests import Request

from gateway.admin import audit
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from tests.fixtures.billing import ADMIN_TOKEN


def _request(headers: dict[str, str]) -> Request:
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/api/admin/v1/merchants",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
    )


def test_the_right_token_names_the_actor(billing_settings: Settings) -> None:
    call = audit.authenticate(
        _request({"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Admin-Actor": "bob@ops"}),
        billing_settings,
        "merchants.list",
    )
    assert (call.actor, call.action, call.method) == ("bob@ops", "merchants.list", "GET")
    default = audit.authenticate(
        _request({"Authorization": f"bearer {ADMIN_TOKEN}"}), billing_settings, "x"
    )
    assert default.actor == "admin"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, 2102),
        ({"Authorization": f"Bearer {ADMIN_TOKEN}x"}, 2103),
        ({"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"}, 2103),
        ({"Authorization": ADMIN_TOKEN}, 2103),
        ({"Authorization": "Bearer ak_live_" + "a" * 32}, 2104),
        ({"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Admin-Actor": "<script>"}, 3001),
        ({"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Admin-Actor": "a" * 101}, 3001),
    ],
)
def test_refusals(billing_settings: Settings, headers: dict[str, str], code: int) -> None:
    with pytest.raises(ApiError) as refused:
        audit.authenticate(_request(headers), billing_settings, "x")
    assert refused.value.code == code


def test_no_token_configured_means_off(settings: Settings) -> None:
    with pytest.raises(ApiError) as refused:
        audit.authenticate(_request({"Authorization": "Bearer anything"}), settings, "x")
    assert refused.value.code == 2101
