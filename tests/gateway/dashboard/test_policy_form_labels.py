"""The key form's fields are named once (``policy_form.FIELDS``): the page's labels say them,
and an error of any field of a policy names its field by them, never by its form name."""

import re

import pytest
from starlette.datastructures import FormData, UploadFile

from gateway.dashboard import policy_form
from gateway.policies.model import INTERVALS, Limit, Policy
from tests.fixtures.dashboard import SignUp


def test_every_policy_field_has_a_labelled_form_field() -> None:
    for name in Policy.model_fields:
        field = {"max_per_send_cents": "max_per_send", "approval_above_cents": "approval_above"}
        assert field.get(name, name) in policy_form.FIELDS, name
    for interval in INTERVALS:
        assert f"limit_{interval}" in policy_form.FIELDS


def test_a_refused_form_names_its_fields_as_the_page_does() -> None:
    given: list[tuple[str, str | UploadFile]] = [(f"limit_{i}", "lots") for i in INTERVALS]
    given += [("max_per_send", "x"), ("rate_limit_per_minute", "0"), ("soft_limit_percent", "?")]
    typed = FormData(given)
    try:
        policy_form.from_form(typed)
    except policy_form.PolicyFormError as refused:
        assert set(refused.errors) <= set(policy_form.FIELDS), refused.errors
        assert {f"limit_{i}" for i in INTERVALS} <= set(refused.errors)
    else:
        raise AssertionError("accepted")


async def test_the_page_labels_each_field_by_its_name(sign_up: SignUp) -> None:
    owner = await sign_up()
    shown = (await owner.client.get("/keys")).text
    labels = {
        m.group(1): re.sub(r"<[^>]+>", "", m.group(2)).strip()
        for m in re.finditer(r'<label for="f-([a-z_]+)">(.*?)</label>', shown)
    }
    fields = (*(f"limit_{i}" for i in INTERVALS), "limit_rolling_hours")
    for field in ("name", "max_per_send", *fields, "expires_at"):
        assert labels[field].startswith(policy_form.FIELDS[field]), (field, labels[field])
    refused = await owner.post("/keys", {"name": "x", "limit_weekly": "lots"}, page="/keys")
    assert refused.status_code == 422
    assert '<a href="#f-limit_weekly">Weekly limit</a>: Enter an amount' in refused.text
    assert 'aria-describedby="f-limit_weekly-error"' in refused.text
    assert '<p class="field-error" id="f-limit_weekly-error">Enter an amount' in refused.text
    assert "limit_weekly</a>" not in refused.text


def test_what_the_policy_itself_refuses_is_named_by_its_form_field() -> None:
    typed = FormData([("rate_limit_per_minute", "0"), ("per_recipient_amount", "5")])
    typed = FormData([*typed.multi_items(), ("per_recipient_interval", "hourly")])
    try:
        policy_form.from_form(typed)
    except policy_form.PolicyFormError as refused:
        assert set(refused.errors) == {"rate_limit_per_minute", "per_recipient_limit"}, refused
    else:
        raise AssertionError("accepted")


def test_alert_levels_are_read_as_percents_and_a_repeated_one_is_refused_by_name() -> None:
    _, policy = policy_form.from_form(FormData([("thresholds_percent", "95, 50 80")]))
    assert policy.thresholds_percent == (50, 80, 95)
    assert policy_form.to_form(policy)["thresholds_percent"] == "50, 80, 95"
    for typed in ("50, 50", "half", "1, 2, 3, 4, 5, 6"):
        try:
            policy_form.from_form(FormData([("thresholds_percent", typed)]))
        except policy_form.PolicyFormError as refused:
            assert set(refused.errors) == {"thresholds_percent"}, (typed, refused.errors)
        else:
            raise AssertionError(f"accepted {typed}")


def test_a_rolling_limit_is_its_amount_and_hours() -> None:
    typed = FormData([("limit_rolling", "5"), ("limit_rolling_hours", "5")])
    _, policy = policy_form.from_form(typed)
    assert policy.limits == (Limit(amount_cents=500, interval="rolling", hours=5),)
    shown = policy_form.to_form(policy)
    assert (shown["limit_rolling"], shown["limit_rolling_hours"]) == ("5", "5")


@pytest.mark.parametrize(
    ("typed", "field"),
    [
        ([("limit_rolling", "5")], "limit_rolling_hours"),
        ([("limit_rolling_hours", "5")], "limit_rolling"),
        ([("limit_rolling", "5"), ("limit_rolling_hours", "169")], "limit_rolling_hours"),
    ],
)
def test_a_rolling_limit_wanting_a_field_is_refused_beside_it(
    typed: list[tuple[str, str | UploadFile]], field: str
) -> None:
    with pytest.raises(policy_form.PolicyFormError) as refused:
        policy_form.from_form(FormData(typed))
    assert set(refused.value.errors) == {field}
