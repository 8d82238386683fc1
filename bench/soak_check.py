"""What the soak did, and what it found: the sends it made, the faults it injected and the
deliveries its receiver got (``Send``, ``Injected``, ``Received``), then its checks of them
against the store: nothing lost, nothing debited twice, every sum, the latencies outside the
warm-up and fault windows against their budgets, and the PostgreSQL connections against their
bound (``Report``: its lines, and what failed)."""

import asyncio
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select

from gateway.store.engine import Database
from gateway.store.models import Event, LedgerEntry, Topup, WebhookDelivery, table_of
from tests.fixtures.merchants import unbalanced_wallets

from . import soak_watch
from .soak_settings import POOL_SIZE, POOLER_POOL, Fault, SoakSettings

__all__ = [
    "SEND_PATH",
    "Injected",
    "Received",
    "Report",
    "Send",
    "check",
    "connections",
    "percentile",
]

SEND_PATH = "/api/public/v1/topup/send"


@dataclass
class Send:
    key: str
    amount: int
    started: float
    ended: float = 0.0
    tries: int = 0
    code: int | None = None
    transaction_id: str | None = None


@dataclass
class Injected:
    fault: Fault
    at: float
    back: float  # when the fault ended (a process started again, PostgreSQL resumed)
    recovered: float | None = None


@dataclass
class Received:
    # Each delivery is an endpoint's path and a webhook-id (its event's id): ``delivered``.
    ids: Counter[tuple[int, str]] = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)  # time.monotonic(), in order
    first_at: dict[tuple[int, str], float] = field(default_factory=dict)  # time.time()
    bad_signatures: int = 0


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class Report:
    lines: list[str]
    failures: list[str]


async def check(
    db: Database,
    merchant_id: str,
    sends: list[Send],
    received: Received,
    injected: list[Injected],
    settings: SoakSettings,
    paths: Mapping[str, int],
    proxied: Sequence[str],
) -> Report:
    """``proxied``: the proxy's log of the run's requests (``soak_watch.PROXY_LOG_FORMAT``),
    where the sends' latency is judged; the soak's client's own readings are printed beside."""
    lines: list[str] = []
    failures: list[str] = []
    accepted = [s for s in sends if s.code == 1001]
    refused = [s for s in sends if s.code is not None and s.code != 1001]
    gave_up = [s for s in sends if s.code is None]
    lines.append(
        f"sends: {len(sends)}, accepted {len(accepted)}, refused {len(refused)}"
        f" {sorted(Counter(s.code for s in refused).items())}, gave up {len(gave_up)},"
        f" retried {sum(1 for s in sends if s.tries > 1)}"
    )
    if gave_up or refused:
        failures.append(f"{len(gave_up)} sends gave up, {len(refused)} refused")

    topups, ledger, events = table_of(Topup), table_of(LedgerEntry), table_of(Event)
    deliveries = table_of(WebhookDelivery)

    # Every delivery stored reaches its endpoint, whatever the faults did: wait for the stragglers.
    async def stored_deliveries() -> set[tuple[int, str]]:
        async with db.read() as conn:
            rows = await conn.execute(
                select(deliveries.c.endpoint_id, deliveries.c.event_id).where(
                    deliveries.c.merchant_id == merchant_id
                )
            )
            return {(paths[r.endpoint_id], r.event_id) for r in rows}

    deadline = time.monotonic() + settings.drain_seconds
    stored = await stored_deliveries()
    while not stored <= set(received.ids) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        stored = await stored_deliveries()
    async with db.read() as conn:
        debits: dict[str, int] = dict(
            (
                await conn.execute(
                    select(ledger.c.reference, func.count())
                    .where(ledger.c.kind == "topup_debit")
                    .group_by(ledger.c.reference)
                )
            ).all()
        )
        topup_ids = set(
            (
                await conn.execute(select(topups.c.id).where(topups.c.merchant_id == merchant_id))
            ).scalars()
        )
        event_count = (
            await conn.execute(
                select(func.count()).select_from(events).where(events.c.merchant_id == merchant_id)
            )
        ).scalar_one()
    accepted_ids = {s.transaction_id or "" for s in accepted}
    per_send = Counter(debits.get(t, 0) for t in accepted_ids)
    lines.append(f"debits per accepted send: {dict(sorted(per_send.items()))}")
    if set(per_send) != {1} and accepted:
        failures.append(f"debits per accepted send {dict(per_send)}")
    if len(accepted_ids) != len(accepted):
        failures.append("two accepted sends share a transaction id")
    extra = topup_ids - accepted_ids
    lines.append(f"top-ups stored: {len(topup_ids)} (not acknowledged to the client: {len(extra)})")
    if extra - {s.transaction_id for s in gave_up}:
        failures.append(f"{len(extra)} top-ups no client was told of")
    unbalanced = await unbalanced_wallets(db)
    lines.append(f"wallets whose balance is not the sum of their entries: {len(unbalanced)}")
    if unbalanced:
        failures.append(f"broken sums: {unbalanced[:5]}")
    lost = stored - set(received.ids)
    duplicates = sum(n - 1 for n in received.ids.values())
    with_delivery = {event_id for _, event_id in stored}
    lines.append(
        f"events stored {event_count} (with a delivery {len(with_delivery)}), deliveries"
        f" {len(stored)} to {settings.endpoints} endpoints, distinct deliveries received"
        f" {len(received.ids)}, lost {len(lost)}, duplicates {duplicates},"
        f" bad signatures {received.bad_signatures}"
    )
    if lost:
        failures.append(f"{len(lost)} deliveries never received")
    if received.bad_signatures:
        failures.append(f"{received.bad_signatures} bad signatures")
    if len(with_delivery) < len(accepted) or len(stored) < len(accepted) * settings.endpoints:
        failures.append("fewer events or deliveries than accepted sends made")

    begun = min((s.started for s in sends), default=0.0)
    windows: list[tuple[float, float]] = [(begun, begun + settings.warmup_seconds)]
    for fault in injected:
        after = [s for s in accepted if s.started >= fault.at]
        first = min((s.ended for s in after), default=None)
        fault.recovered = first
        took = f"{first - fault.at:.1f} s" if first is not None else "never"
        webhook = next((t for t in received.arrivals if t >= fault.back), None)
        hooked = f"{webhook - fault.back:.1f} s" if webhook is not None else "never"
        # A fault's window lasts until the sends it held are answered: from its start to a
        # second after the first send begun after it was accepted, and on until the last send
        # begun meanwhile was answered. The backlog a fault leaves is its own, not the steady
        # state's that the p99s outside the windows are judged on.
        end = max((first or fault.back) + 1.0, fault.back + settings.warmup_seconds)
        end = max([end, *(s.ended for s in accepted if fault.at <= s.started <= end)])
        lines.append(
            f"fault {fault.fault}: lasted {fault.back - fault.at:.1f} s; sends: the first one"
            f" started after it accepted {took} after it began, every one it held answered"
            f" {end - fault.at:.1f} s after it began; webhooks: the next one {hooked} after"
            " it ended"
        )
        windows.append((fault.at, end))

    def inside(send: Send) -> bool:
        return any(a <= send.started <= b for a, b in windows)

    outside = [(s.ended - s.started) * 1000 for s in accepted if not inside(s)]
    within = [(s.ended - s.started) * 1000 for s in accepted if inside(s)]
    lines.append(
        f"send latency inside the warm-up and fault windows: n={len(within)}"
        f" p50 {percentile(within, 0.5):.1f} ms, p99 {percentile(within, 0.99):.1f} ms,"
        f" max {max(within, default=0):.1f} ms"
    )
    async with db.read() as conn:
        created = dict(
            (
                await conn.execute(
                    select(events.c.id, events.c.created_at).where(
                        events.c.merchant_id == merchant_id
                    )
                )
            ).all()
        )
    walls = [(soak_watch.wall_of(a), soak_watch.wall_of(b)) for a, b in windows]
    firsts = [(event_id, at) for (_, event_id), at in received.first_at.items()]
    receipts = soak_watch.receipt_times(
        created, firsts, soak_watch.until_received(created, firsts, walls)
    )
    at_client = soak_watch.Latency("send latency at the client", outside, settings.send_budget_ms)
    lines.append(f"{at_client.line()}, not judged: the soak's own Python, on the same cores")
    at_proxy = soak_watch.proxy_times(proxied, SEND_PATH, walls)
    for judged in (
        soak_watch.Latency("send latency at the proxy", at_proxy, settings.send_budget_ms),
        soak_watch.Latency("event to receipt", receipts, settings.receipt_p99_ms),
    ):
        lines.append(judged.line())
        if settings.judge_latency and not judged.within():
            failures.append(judged.failure())
    return Report(lines, failures)


def connections(
    found: Report,
    watch: soak_watch.ConnectionWatch,
    settings: SoakSettings,
    *,
    pooled: bool,
    runners: int,
) -> None:
    """The most PostgreSQL connections seen against the documented bound: past it fails."""
    most = soak_watch.bound(
        gateways=settings.gateways,
        workers=settings.workers,
        pool_size=POOL_SIZE,
        pooler_pool=POOLER_POOL if pooled else None,
        runners=runners,
    )
    found.lines.append(
        f"PostgreSQL connections: at most {watch.most} at once ({watch.samples} samples),"
        f" bound {most} (docs/operations.md)"
    )
    if watch.samples == 0:
        found.failures.append("the PostgreSQL connections were never counted")
    elif watch.most > most:
        found.failures.append(f"{watch.most} PostgreSQL connections, past the bound of {most}")
