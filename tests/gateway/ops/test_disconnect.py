"""A client that hangs up mid-body is a normal early end: one info line, no traceback, no 500."""

import asyncio
import logging
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.values.settings import Settings
from tests.fixtures.core import local_client, wait_until
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.serving import serve

ROUTE = "/api/public/v1/topup/send"


def _count(text: str, **labels: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "aitopup_http_requests_total"
        and all(sample.labels.get(k) == v for k, v in labels.items())
    )


@pytest.fixture
def every_record(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, also fed by uvicorn's own loggers (which may have stopped propagating)."""
    caplog.set_level(logging.DEBUG)
    server_logger = logging.getLogger("uvicorn")
    server_logger.addHandler(caplog.handler)
    yield caplog
    server_logger.removeHandler(caplog.handler)


async def test_a_client_hanging_up_mid_body_is_one_info_line(
    ops_settings: Settings, make_merchant: MakeMerchant, every_record: pytest.LogCaptureFixture
) -> None:
    merchant = await make_merchant()
    async with serve(ops_settings) as server:
        base = f"http://127.0.0.1:{server.config.port}"
        async with local_client(base_url=base) as http:
            before = (await http.get("/metrics")).text
            every_record.clear()
            _, writer = await asyncio.open_connection("127.0.0.1", server.config.port)
            writer.write(
                f"POST {ROUTE} HTTP/1.1\r\nHost: gateway\r\n"
                f"Authorization: Bearer {merchant.key}\r\n"
                "Content-Type: application/json\r\nContent-Length: 200\r\n"
                "X-Request-Id: hang-up-1\r\n\r\n".encode()
                + b'{"platform": "claude", "amount_'
            )
            await writer.drain()
            writer.close()  # half a body, then gone

            def lines() -> list[logging.LogRecord]:
                return [
                    r for r in every_record.records if getattr(r, "request_id", "") == "hang-up-1"
                ]

            async def logged() -> bool:
                return bool(lines())

            await wait_until(logged, within=5)
            after = (await http.get("/metrics")).text

    (line,) = lines()
    assert (line.levelno, line.getMessage(), getattr(line, "status", None)) == (
        logging.INFO,
        "client disconnected",
        499,
    )
    assert [r.getMessage() for r in every_record.records if r.exc_info or r.levelno >= 30] == []
    assert _count(after, route=ROUTE, status="500") == _count(before, route=ROUTE, status="500")
    assert _count(after, route=ROUTE, status="499") == _count(before, route=ROUTE, status="499") + 1
