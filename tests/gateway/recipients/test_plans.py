"""A merchant's recipients, and one recipient's page, are read by index: every statement that
``GET /recipients``, the dashboard's Recipients page and the recipient's own page run on
top-ups and wallets, as each store plans it. Both stores."""

from datetime import timedelta

import httpx
import pytest

from gateway.callers import Caller
from gateway.mail.links import RecipientLink
from gateway.policies.model import UNRESTRICTED
from gateway.recipients import page, service
from gateway.recipients.schemas import RecipientData
from gateway.store.engine import Database
from gateway.upstreams import keys
from gateway.values.clock import utcnow
from keys import Sealer
from tests.fixtures.core import TEST_SECRET
from tests.fixtures.merchants import MakeMerchant
from tests.fixtures.plans import captured, plan


def _on(statement: str, table: str) -> bool:
    return any(f"{word} {table}" in statement for word in ("FROM", "JOIN", "UPDATE"))


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


# A store with history, as ``bench.history`` loads one: the page's merchant with 5,000 top-ups
# over 1,000 addresses, a voucher mail for one in five, beside 1,000 merchants of 5 top-ups each.
_HISTORY = (
    "INSERT INTO topups SELECT (jsonb_populate_record(NULL::topups, to_jsonb(t)"
    " || jsonb_build_object('id', 'tu_history' || n, 'voucher_hash', 'history' || n,"
    " 'recipient_email', 'r' || (n % 1000) || '@example.com', 'merchant_id',"
    " CASE WHEN n <= 5000 THEN t.merchant_id ELSE 'mer_light' || (n % 1000) END))).*"
    " FROM public.topups t CROSS JOIN generate_series(1, 10000) n"
    " WHERE t.id = (SELECT min(id) FROM public.topups WHERE merchant_id = $1)",
    "INSERT INTO mails SELECT (jsonb_populate_record(NULL::mails, to_jsonb(m)"
    " || jsonb_build_object('id', 'ml_history' || n, 'topup_id', 'tu_history' || n))).*"
    " FROM public.mails m CROSS JOIN generate_series(1, 5000, 5) n"
    " WHERE m.id = (SELECT min(id) FROM public.mails)",
)


async def _kept_plans(
    db: Database, merchant_id: str, statements: list[tuple[str, tuple[object, ...]]]
) -> list[str]:
    """PostgreSQL's generic plan of each statement: the one a prepared statement keeps after
    five runs if the planner judges it as cheap as one planned for the values. Planned for no
    merchant in particular, it must still seek the page's addresses in the index.

    Planned on a store with history (``_HISTORY``), in temporary copies of the tables that
    shadow the shared ones for this transaction alone: the shared tables' statistics are what
    the other tests left, a few top-ups a merchant, on which the costs of the two indexes tie
    and either may be kept."""
    kept = []
    async with db.transaction() as conn:
        for table in ("topups", "mails"):
            await conn.exec_driver_sql(
                f"CREATE TEMP TABLE {table} (LIKE public.{table} INCLUDING ALL) ON COMMIT DROP"
            )
        for fill in _HISTORY:
            await conn.exec_driver_sql(fill, (merchant_id,) if "$1" in fill else ())
        await conn.exec_driver_sql("ANALYZE pg_temp.topups, pg_temp.mails")
        await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
        for statement, parameters in statements:
            await conn.exec_driver_sql(f"PREPARE kept AS {statement}")
            values = ", ".join(_literal(v) for v in parameters)
            rows = await conn.exec_driver_sql(f"EXPLAIN EXECUTE kept({values})")
            kept.append("\n".join(str(r[0]) for r in rows))
            await conn.exec_driver_sql("DEALLOCATE kept")
    return kept


async def test_recipients_and_their_page_are_read_by_index(
    client: httpx.AsyncClient,
    make_merchant: MakeMerchant,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    merchant = await make_merchant("live", balance_cents=100_000)
    for i in range(3):
        body = {"platform": "claude", "amount_cents": 100, "recipient_email": f"r{i}@example.com"}
        sent = await client.post("/topup/send", json=body, headers=merchant.headers)
        assert sent.is_success, sent.text
    caller = Caller(merchant.key_id, merchant.merchant_id, "live", 0, "", UNRESTRICTED)
    link = RecipientLink(merchant.merchant_id, "live", "r1@example.com", utcnow() + timedelta(1))
    sealer = Sealer(TEST_SECRET.encode())

    with captured(db, monkeypatch) as seen:
        first = await service.list_page(db, caller, limit=2, cursor=None)
        assert [r.email for r in first.many(RecipientData)] == ["r0@example.com", "r1@example.com"]
        assert (first.meta or {})["has_more"] is True
        rest = await service.list_page(db, caller, limit=2, cursor="r1@example.com")
        assert [r.email for r in rest.many(RecipientData)] == ["r2@example.com"]
        assert (rest.meta or {})["has_more"] is False
        one = await service.get(db, caller, "r2@example.com")
        assert one.one(RecipientData).topups_count == 1
        shown = await page.view(db, sealer, link)
        assert shown is not None and len(shown.topups) == 1
        await page.fingerprint(db, link)
        async with db.read() as conn:
            assert (
                await keys.total_cents(conn, merchant.merchant_id, "live", link.email, "openrouter")
                == 0
            )

    recipient_index = "ix_topups_merchant_env_recipient"
    wallet_index = "sqlite_autoindex_wallets_2" if db.is_sqlite else "uq_wallets_env"
    by_recipient = [s for s in seen if _on(s[0], "topups") and "recipient_email" in s[0]]
    on_wallets = [s for s in seen if _on(s[0], "wallets")]
    assert len(by_recipient) >= 6 and len(on_wallets) >= 4, seen
    assert any("fulfilments.provider" in s[0] for s in by_recipient)  # OpenRouter's total
    for statement, parameters in by_recipient:
        found = await plan(db, statement, parameters)
        assert recipient_index in found, f"{statement}\n{found}"
        # The address sought in the index (SQLite, planning without statistics, always does;
        # PostgreSQL on so few rows may filter an IN list instead), the list read in its order.
        sought = ("recipient_email =", "recipient_email >", "recipient_email IN")
        # (The list's page seeks each address's latest voucher mail by its address, in a
        # subquery of its own: a search of the index of its own.)
        if db.is_sqlite and any(s in statement for s in sought):
            searches = [part.split("\n")[0] for part in found.split(recipient_index)[1:]]
            assert any("recipient_email" in search for search in searches), found
        assert "TEMP B-TREE" not in found and "Sort Key: recipient_email" not in found, found
    if not db.is_sqlite:
        for (statement, _), kept in zip(
            by_recipient, await _kept_plans(db, merchant.merchant_id, by_recipient), strict=True
        ):
            # The copy's index, named by PostgreSQL after its columns.
            assert "topups_merchant_id_env_recipient_email_id_idx" in kept, f"{statement}\n{kept}"
            # Not every top-up of the merchant read with the addresses as a filter.
            assert "Filter: ((recipient_email" not in kept, f"{statement}\n{kept}"
    for statement, parameters in on_wallets:
        found = await plan(db, statement, parameters)
        assert wallet_index in found, f"{statement}\n{found}"
        if db.is_sqlite:
            assert "owner=?" in found, found
