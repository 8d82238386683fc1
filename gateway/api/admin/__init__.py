"""The admin API, mounted at ``/api/admin/v1``: the operators' side, same envelope.

Every route goes through ``door.route``: the token check first, behind the admin lockout (failed
attempts per client, ``gateway.lockout``), then the handler, then the audit row for calls whose
service did not already write one inside its own transaction. The routes are a module a noun.
"""

from . import catalogue, checkin, grants, merchants, orders, reports, treasury

__all__ = ["PREFIX", "routes"]

PREFIX = "/api/admin/v1"

# In the order the OpenAPI document lists them.
routes = [
    *merchants.routes,
    *grants.routes,
    *reports.transaction_routes,
    *catalogue.routes,
    *orders.routes,
    *reports.audit_routes,
    *checkin.routes,
    *treasury.routes,
]
