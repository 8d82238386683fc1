"""schemathesis against the real app (SQLite, a staging key): no 5xx, and every reply matches the
spec. The run is fixed in size and derandomised, so it is the same run every time."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import response_schema_conformance
from starlette.applications import Starlette

from gateway import described
from gateway.app import create_app
from gateway.operator import create_key, create_merchant
from gateway.store.migrate import upgrade
from tests.fixtures.core import make_settings

# Fixed examples per operation, so the run grows with the routes. An invalid input costs about
# three times a valid one to draw (most mutations are thrown away before one breaks the schema),
# so the negative run takes half as many, and costs about what the positive run does. A few
# each: every operation is still called in both modes, and hypothesis tries the simplest input
# (empty and missing fields, the bounds) first, where a 5xx or an off-spec reply shows most.
EXAMPLES = {GenerationMode.POSITIVE: 4, GenerationMode.NEGATIVE: 2}
CHECKS = [not_a_server_error, response_schema_conformance]


@dataclass(frozen=True)
class Staging:
    app: Starlette
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@pytest.fixture(scope="module")
def staging(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[Staging]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('schemathesis') / 'api.db'}"
    upgrade(url)
    # Configured as in production: an unconfigured Stripe webhook rightly answers 503.
    app_settings = make_settings(url, redis_url, stripe_webhook_secret="whsec_schemathesis")
    merchant = create_merchant(app_settings, "schemathesis")
    _, _, key = create_key(app_settings, "staging", merchant.id)
    yield Staging(create_app(app_settings), key)
    shutdown_lifespans()


def nothing_to_break(app: Starlette) -> set[str]:
    """The operations no invalid input can reach: no body, no query, header or cookie, and no
    key asked for (whose header a negative case would leave out); only path segments, which
    are any text on the wire. The negative run would draw for them until hypothesis gave up
    (``Unsatisfiable``), a second or more each: they are left out of it instead."""
    spec = described.document(app.routes)
    return {
        f"{method.upper()} {path}"
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if "requestBody" not in operation
        and all(p["in"] == "path" for p in operation.get("parameters", []))
        and operation.get("security", spec.get("security")) == []
    }


@pytest.fixture(scope="module")
def api_schema(staging: Staging) -> Any:
    return schemathesis.openapi.from_asgi("/api/public/v1/openapi.json", staging.app)


# schemathesis' own pytest plugin reaches into a private attribute that pytest 9.2 no longer has,
# so each operation's strategy is driven by hypothesis here instead.
# The negative run has taken minutes on a busy two-core machine, past the suite's default timeout.
@pytest.mark.timeout(900)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_route_answers_within_its_spec(
    api_schema: Any, staging: Staging, mode: GenerationMode
) -> None:
    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    checked = 0
    unbreakable = nothing_to_break(staging.app)
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and operation.label in unbreakable:
            continue

        @settings(
            max_examples=EXAMPLES[mode],
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case: Any) -> None:
            response = case.call_and_validate(headers=staging.headers, checks=CHECKS)
            statuses.setdefault(case.operation.label, set()).add(response.status_code)

        try:
            check()
        except Unsatisfiable:  # an operation that takes no input has no invalid input either
            assert mode is GenerationMode.NEGATIVE
        except Exception as exc:  # report every failing operation, not just the first
            failures.append(f"{operation.label}: {exc}")
        checked += 1
    assert checked >= 9
    assert not failures, "\n\n".join(failures)
    if mode is GenerationMode.POSITIVE:  # valid input reached the ledger, not just validation
        assert 200 in statuses["POST /api/public/v1/topup/send"], statuses


def test_only_keyless_operations_taking_their_path_alone_are_left_out(staging: Staging) -> None:
    unbreakable = nothing_to_break(staging.app)
    assert "POST /api/public/v1/webhooks/inbox/{token}" in unbreakable  # public, path alone
    assert "GET /api/public/v1/keys/{key_id}" not in unbreakable  # a key is asked for
    assert "POST /api/public/v1/topup/send" not in unbreakable  # a body
    assert "GET /api/public/v1/billing/transactions" not in unbreakable  # a query, and a key
