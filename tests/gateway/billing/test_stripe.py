"""What ``gateway.billing._stripe`` reaches of the stripe package is still there and still behaves
so: these fail first when an upgrade of stripe moves it."""

import inspect
import warnings

import respx
import stripe

from gateway.billing._stripe import HTTPXClient

URL = "https://stripe.test/v1/probe"
FORM = "a=1&b=two"


def test_the_private_method_is_stripes_own_with_its_signature() -> None:
    assert "_get_request_args_kwargs" in vars(stripe.HTTPXClient)
    reached = inspect.signature(stripe.HTTPXClient._get_request_args_kwargs)
    assert list(reached.parameters) == ["self", "method", "url", "headers", "post_data"]
    assert all(p.kind is p.POSITIONAL_OR_KEYWORD for p in reached.parameters.values())


async def test_stripes_arguments_carry_the_form_as_data() -> None:
    http = stripe.HTTPXClient(timeout=5)
    try:
        args, kwargs = http._get_request_args_kwargs("POST", URL, {"X": "1"}, FORM)
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]
    assert tuple(args) == ("POST", URL)
    assert kwargs["data"] == FORM and kwargs["headers"] == {"X": "1"}


async def test_a_request_sends_the_form_as_content_without_a_warning() -> None:
    """Through the package's own ``request_async``: if it stopped building its arguments with
    the overridden method, the form would go as ``data`` and httpx would warn."""
    http = HTTPXClient(timeout=5)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    try:
        with respx.mock(assert_all_called=True) as api, warnings.catch_warnings():
            warnings.simplefilter("error")
            posted = api.post(URL).respond(200, json={})
            fetched = api.get(URL).respond(200, json={})
            _, status, _ = await http.request_async("POST", URL, headers, FORM)
            await http.request_async("GET", URL, {}, None)
    finally:
        await http.close_async()  # type: ignore[no-untyped-call]
    assert status == 200
    assert posted.calls.last.request.content == FORM.encode()
    assert fetched.calls.last.request.content == b""
