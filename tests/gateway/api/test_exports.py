"""CSV exports: the ledger, top-ups and orders of a date range, streamed a page at a time, in
memory that does not grow with the rows (measured with tracemalloc over a real socket);
ranges and row counts past the settings are refused with the envelope."""

import csv
import io
import tracemalloc
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, update

from gateway.billing import exports
from gateway.callers import Caller
from gateway.ledger import grants
from gateway.ledger import service as ledger
from gateway.policies.model import UNRESTRICTED
from gateway.store.engine import Database
from gateway.store.models import FundingOrder, LedgerEntry, Wallet, table_of
from gateway.values.clock import utcnow
from gateway.values.code_names import Code
from gateway.values.outcome import ApiError
from gateway.values.settings import Settings
from tests.fixtures.core import live_server, local_client
from tests.fixtures.merchants import MakeMerchant, assert_ledger_balanced, set_balance
from tests.fixtures.plans import captured

_L = table_of(LedgerEntry)
_W = table_of(Wallet)
_O = table_of(FundingOrder)
# Rows of the ledger measured: a tenth of them against all, ``test_an_export_streams_...``.
ROWS = 30_000
DAY = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="session")
async def export_url(settings: Settings) -> AsyncIterator[str]:
    async with live_server(settings) as root:
        yield f"{root}/api/public/v1"


async def _fill_ledger(db: Database, merchant_id: str, env: str, rows: int) -> None:
    """``rows`` ledger entries of a cent over one day, numbered after the wallet's own, and the
    wallet's balance and count of entries with them, so they stay the entries' sum and number
    (written straight in: what is measured is the export, not the writes), and a paid grant of
    each batch's cents, so the balance stays its grants' sum."""
    async with db.read() as conn:
        wallet = await ledger.balance(conn, env, ledger.merchant_owner(merchant_id))
    assert wallet is not None
    step = timedelta(days=1) / rows
    batch = 10_000
    for first in range(0, rows, batch):
        async with db.transaction() as conn:
            await conn.execute(
                insert(_L),
                [
                    {
                        "wallet_id": wallet.wallet_id,
                        "env": env,
                        "amount_cents": 1,
                        "kind": "adjustment",
                        "reference": f"adj_{n:08d}",
                        "memo": "bulk, for the export's measure",
                        "created_at": DAY + step * n,
                        "number": wallet.entry_count + n + 1,
                    }
                    for n in range(first, min(first + batch, rows))
                ],
            )
            added = min(first + batch, rows) - first
            await conn.execute(
                update(_W)
                .where(_W.c.id == wallet.wallet_id)
                .values(
                    balance_cents=_W.c.balance_cents + added,
                    entry_count=_W.c.entry_count + added,
                )
            )
            # A grant of what the batch adds, so the balance stays its grants' sum too.
            number = wallet.entry_count + min(first + batch, rows)
            await grants.insert(
                conn, wallet.wallet_id, env, number, added, grants.PAID, DAY + step * first
            )


async def _measured_export(
    export_url: str, headers: dict[str, str], end: datetime
) -> tuple[int, int, int]:
    """The ledger's export from ``DAY`` to ``end`` over a real socket: its lines, its characters,
    and tracemalloc's peak over the export (the server's side and the client's: one process)."""
    params = {"from": DAY.isoformat(), "to": end.isoformat()}
    lines = 0
    size = 0
    async with local_client(base_url=export_url, timeout=120) as http:
        tracemalloc.start()
        try:
            async with http.stream(
                "GET", "/exports/ledger.csv", params=params, headers=headers
            ) as reply:
                assert reply.status_code == 200
                assert reply.headers["content-type"].startswith("text/csv")
                tail = ""
                async for chunk in reply.aiter_text():
                    size += len(chunk)
                    text = tail + chunk
                    lines += text.count("\r\n")
                    tail = text[text.rfind("\r\n") + 2 :]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return lines, size, peak


async def test_an_export_streams_in_memory_that_does_not_grow_with_its_rows(
    export_url: str, db: Database, make_merchant: MakeMerchant
) -> None:
    """The same ledger exported twice: a tenth of its day, then all of it. Ten times the rows
    raise the peak by less than half the extra text; an export that held its rows, or its text,
    would raise it by the whole of the text at least (a character is a byte or more, a row as
    Python objects many times its line). The fixed part of the peak, a page of 1,000 rows and
    the drivers' buffers (about 2.1-2.4 MB measured), is in both, so a bound per row needs no
    export larger than it, as a bound on the whole would (``peak < size / 2``: 100,000 rows)."""
    merchant = await make_merchant("staging")
    await _fill_ledger(db, merchant.merchant_id, "staging", ROWS)
    tenth_lines, tenth_size, tenth_peak = await _measured_export(
        export_url, merchant.headers, DAY + timedelta(days=1) / 10
    )
    lines, size, peak = await _measured_export(
        export_url, merchant.headers, DAY + timedelta(days=1)
    )
    assert (tenth_lines, lines) == (ROWS // 10 + 1, ROWS + 1)  # the header and every row
    await assert_ledger_balanced(db)
    grown = size - tenth_size
    assert grown > 2_000_000  # about 2.6 MB more text: well past the fixed part's wobble
    assert peak - tenth_peak < grown / 2, (tenth_peak, peak, grown)
    print(f"exported {ROWS} rows, {size:,} characters; tracemalloc peak {peak:,} bytes")


async def test_exports_of_orders_and_topups_are_the_callers_own(
    export_url: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging", balance_cents=10_000)
    other = await make_merchant("staging", balance_cents=10_000)
    now = datetime.now(UTC)
    params = {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }
    async with local_client(base_url=export_url) as http:
        for who in (merchant, other):
            sent = await http.post(
                "/topup/send",
                json={"platform": "claude", "amount_cents": 100, "recipient_email": "r@x.io"},
                headers=who.headers,
            )
            assert sent.status_code == 200, sent.text
            made = await http.post(
                "/billing/checkout",
                json={
                    "amount_cents": 1000,
                    "success_url": "https://a.io",
                    "cancel_url": "https://b.io",
                },
                headers=who.headers,
            )
            assert made.status_code == 201, made.text
        topups = await http.get("/exports/topups.csv", params=params, headers=merchant.headers)
        assert topups.status_code == 200
        [header, *rows] = list(csv.reader(io.StringIO(topups.text)))
        assert header[:5] == ["id", "created_at", "env", "platform", "amount_cents"]
        assert [(r[3], r[4], r[5], r[6]) for r in rows] == [
            ("claude", "100", "r@x.io", "delivered")
        ]
        assert "ATU-" not in topups.text  # no voucher leaves in an export
        orders = await http.get("/exports/orders.csv", params=params, headers=merchant.headers)
        [_, *order_rows] = list(csv.reader(io.StringIO(orders.text)))
        assert [(r[4], r[8], r[14]) for r in order_rows] == [("sandbox", "1000", "pending")]
        assert "token=" not in orders.text  # nor a checkout link


async def test_ranges_past_the_bounds_are_refused_with_the_envelope(
    export_url: str, make_merchant: MakeMerchant
) -> None:
    merchant = await make_merchant("staging")
    cases = [
        ({"from": "2026-03-02T00:00:00Z", "to": "2026-03-01T00:00:00Z"}, 422, 4154),
        ({"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, 422, 4154),
        ({"from": "2026-03-01T00:00:00", "to": "2026-03-02T00:00:00"}, 422, 3006),
        ({"from": "yesterday", "to": "2026-03-02T00:00:00Z"}, 422, 3006),
        ({"to": "2026-03-02T00:00:00Z"}, 422, 3006),
    ]
    async with local_client(base_url=export_url) as http:
        for params, status, code in cases:
            reply = await http.get("/exports/ledger.csv", params=params, headers=merchant.headers)
            assert (reply.status_code, reply.json()["code"]) == (status, code), params
        unknown = await http.get("/exports/keys.csv", params=cases[0][0], headers=merchant.headers)
        assert unknown.status_code == 404
        anonymous = await http.get("/exports/ledger.csv", params=cases[0][0])
        assert anonymous.status_code == 401


async def test_a_ledger_export_past_the_row_limit_is_refused_before_a_byte(
    db: Database, settings: Settings, make_merchant: MakeMerchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wallet's own count of its entries bounds any range of them; the range is counted only
    when that count is past the limit."""
    merchant = await make_merchant("staging")  # its initial funding entry
    now = utcnow()
    async with db.transaction() as conn:
        for n in range(2):
            await set_balance(conn, db, "staging", merchant.merchant_id, 1_000 + n)
    caller = Caller(merchant.key_id, merchant.merchant_id, "staging", 0, "", UNRESTRICTED)
    around = (now - timedelta(hours=1), now + timedelta(hours=1))
    before = (now - timedelta(days=2), now - timedelta(days=1))

    def limited(rows: int) -> Settings:
        return settings.model_copy(update={"funding_export_max_rows": rows})

    async def rows(rows_allowed: int, span: tuple[datetime, datetime]) -> int:
        pages = await exports.csv_export(db, limited(rows_allowed), caller, "ledger", *span)
        text = "".join([page async for page in pages])
        return len(list(csv.reader(io.StringIO(text)))) - 1

    with captured(db, monkeypatch) as seen:
        assert await rows(3, around) == 3  # the wallet's three entries: at the limit
    assert not [q for q, _ in seen if "count(" in q.lower()], seen  # so not counted
    with pytest.raises(ApiError) as refused:
        await rows(2, around)
    assert refused.value.code == Code.EXPORT_RANGE_INVALID
    assert "holds 3 rows" in refused.value.message
    assert await rows(2, before) == 0  # past the limit in all, but not in this range


FORMULA = "=cmd|'/ccalc'!a0@example.org"  # an address the send accepts (as it keeps it)


async def test_cells_a_spreadsheet_would_run_as_formulas_are_neutralised_in_every_export(
    export_url: str, db: Database, make_merchant: MakeMerchant
) -> None:
    """A text cell starting with = + - @ (or a tab, a carriage return) is written quoted, with
    a single quote in front; amounts stay numbers, negative ones too."""
    merchant = await make_merchant("staging", balance_cents=10_000)
    now = datetime.now(UTC)
    params = {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }
    async with local_client(base_url=export_url) as http:
        sent = await http.post(
            "/topup/send",
            json={"platform": "claude", "amount_cents": 100, "recipient_email": FORMULA},
            headers=merchant.headers,
        )
        assert sent.status_code == 200, sent.text
        made = await http.post(
            "/billing/checkout",
            json={
                "amount_cents": 1000,
                "success_url": "https://a.io",
                "cancel_url": "https://b.io",
            },
            headers=merchant.headers,
        )
        assert made.status_code == 201, made.text
        async with db.transaction() as conn:
            wallet_id, _ = await ledger.ensure_wallet(conn, "staging", merchant.merchant_id, now)
            entries = [
                ledger.Entry(wallet_id, "staging", -500, "adjustment", memo="+SUM(A1:A9)"),
                ledger.Entry(wallet_id, "staging", 500, "adjustment", memo="-500"),
                ledger.Entry(wallet_id, "staging", 0, "adjustment", memo="@SUM(1)\t"),
                ledger.Entry(wallet_id, "staging", 0, "adjustment", memo="\tx"),
                ledger.Entry(wallet_id, "staging", 0, "adjustment", memo="\rx"),
            ]
            # Written straight in, beside ``ledger.credit``'s one entry a move: the entries sum
            # to nought, and the wallet counts each of them, first, as a change of it does.
            await conn.execute(update(_W).where(_W.c.id == wallet_id).values(
                entry_count=_W.c.entry_count + len(entries)))  # fmt: skip
            await ledger.append(conn, entries, now)
            await conn.execute(
                update(_O)
                .where(_O.c.merchant_id == merchant.merchant_id)
                .values(pack_name='=HYPERLINK("http://x.io")')
            )
        texts = {}
        for kind in ("ledger", "topups", "orders"):
            reply = await http.get(f"/exports/{kind}.csv", params=params, headers=merchant.headers)
            assert reply.status_code == 200, reply.text
            texts[kind] = reply.text
    topups = list(csv.reader(io.StringIO(texts["topups"])))[1:]
    assert [r[5] for r in topups] == ["'" + FORMULA]
    assert f'"\'{FORMULA}"' in texts["topups"]  # quoted
    assert ",100," in texts["topups"]  # the amount: a number, unquoted
    ledger_rows = list(csv.reader(io.StringIO(texts["ledger"])))[1:]
    memos = {r[6] for r in ledger_rows}
    assert {"'+SUM(A1:A9)", "'-500", "'@SUM(1)\t", "'\tx", "'\rx"} <= memos
    assert not [m for m in memos if m[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert {r[4] for r in ledger_rows} >= {"-500", "500"}
    assert ",-500," in texts["ledger"]  # a negative amount stays a number, unquoted
    orders = list(csv.reader(io.StringIO(texts["orders"])))[1:]
    assert [r[7] for r in orders] == ['\'=HYPERLINK("http://x.io")']
    for text in texts.values():
        for line in text.split("\r\n"):
            for raw in line.split(","):
                assert not raw.startswith(("=", "+", "@")), line
