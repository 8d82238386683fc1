"""CSV exports of the ledger, top-ups and orders for a date range: streamed, bounded."""

from datetime import datetime

from pydantic import ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from ..auth import require_caller
from ..billing import exports
from ..ops.routing import KEY_ERRORS, ApiRoute, RouteDoc
from ..services import services
from ..values.code_names import Code
from ..values.model import Model
from ..values.outcome import ApiError
from ..values.parsing import read_query

__all__ = ["ExportQuery", "routes"]


class ExportQuery(Model):
    model_config = ConfigDict(extra="forbid")

    from_: datetime = Field(alias="from", description="Start, inclusive (RFC 3339, UTC).")
    to: datetime = Field(description="End, exclusive (RFC 3339, UTC).")


async def export_csv(request: Request) -> Response:
    kind: str = request.path_params["kind"]
    if kind not in ("ledger", "topups", "orders"):
        raise ApiError(Code.ROUTE_NOT_FOUND)
    caller = require_caller(request, "topup:read" if kind == "topups" else "billing")
    query = read_query(request, ExportQuery)
    if query.from_.tzinfo is None or query.to.tzinfo is None:
        raise ApiError(Code.INVALID_QUERY, "from and to need a time zone (…Z)")
    svc = services(request)
    pages = await exports.csv_export(svc.db, svc.settings, caller, kind, query.from_, query.to)
    name = f"{kind}-{caller.env}-{query.from_:%Y%m%d}-{query.to:%Y%m%d}.csv"
    return StreamingResponse(
        pages,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


routes = [
    ApiRoute(
        "/exports/{kind}.csv",
        export_csv,
        methods=["GET"],
        doc=RouteDoc(
            "CSV of the ledger, top-ups or orders (kind) from ?from= to ?to=, streamed; at most "
            "AITOPUP_FUNDING_EXPORT_MAX_DAYS days and AITOPUP_FUNDING_EXPORT_MAX_ROWS rows",
            "billing",
            query=ExportQuery,
            errors=(*KEY_ERRORS, Code.INVALID_QUERY, Code.EXPORT_RANGE_INVALID),
        ),
    ),
]
