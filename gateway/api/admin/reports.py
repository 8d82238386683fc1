"""The admin routes that read across merchants: the ledger's entries of every wallet, and the
audit log of admin calls."""

from starlette.requests import Request
from starlette.responses import Response

from ...admin import reports
from ...admin.audit import Call
from ...admin.schemas import AuditItem, AuditQuery, TransactionItem, TransactionQuery
from ...services import services
from ...values.parsing import read_query
from ..answer import answer
from .door import route

__all__ = ["audit_routes", "transaction_routes"]


async def list_transactions(request: Request, call: Call) -> Response:
    query = read_query(request, TransactionQuery)
    return await answer(request, reports.list_transactions(services(request).db, query))


async def list_audit(request: Request, call: Call) -> Response:
    query = read_query(request, AuditQuery)
    return await answer(request, reports.list_audit(services(request).db, query))


transaction_routes = [
    route(
        "/transactions",
        list_transactions,
        "GET",
        "transactions.list",
        "Ledger entries of every wallet, newest first, with filters",
        query=TransactionQuery,
        response=TransactionItem,
        many=True,
    ),
]


audit_routes = [
    route(
        "/audit",
        list_audit,
        "GET",
        "audit.list",
        "The audit log of admin calls, newest first",
        query=AuditQuery,
        response=AuditItem,
        many=True,
    ),
]
