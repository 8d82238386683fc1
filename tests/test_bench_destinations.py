"""``bench/destinations.py`` at a tiny size, so it cannot rot: one worker's deliveries to a
RabbitMQ exchange, a NATS JetStream subject and a Redis stream (the machine's own brokers, under
names of the run's own) and an SQS queue in ``moto``'s server, each beside its bare client's
loop, and the event-to-ack latency of each. On SQLite alone: the suite runs the same code on
each store (``make bench`` runs both)."""

import pytest

from tests.fixtures.benches import BOUNDED, figures_of, run_bench

pytestmark = [pytest.mark.slow, BOUNDED]


def test_the_destinations_benchmark_reports_each_broker_beside_its_bare_client() -> None:
    report = run_bench(
        "bench.destinations",
        "",
        AITOPUP_BENCH_STORES="sqlite",
        AITOPUP_BENCH_BROKER_DELIVERIES="60",
        AITOPUP_BENCH_ROUNDS="1",
        AITOPUP_BENCH_WARM_UP="20",
        AITOPUP_BENCH_STEADY_SECONDS="0.5",
    )
    assert "did not finish" not in report and "postgres: " not in report, report
    for broker, client in (
        ("rabbitmq", "aio-pika"),
        ("nats", "nats-py"),
        ("redis_stream", "redis-py"),
        ("sqs", "aiobotocore"),
    ):
        figures_of(
            report, f"{broker}: one worker: deliveries/s", f"bare {client} loop", prefix="sqlite: "
        )
        rate = 20 if broker == "sqs" else 200
        figures_of(
            report, f"{broker}: event-to-ack p99 at {rate}/s", "p99 target", prefix="sqlite: "
        )
