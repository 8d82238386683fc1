"""The operators' API: merchants, adjustments, transactions, packs, coupons, redemption codes
and the audit log, behind ``AITOPUP_ADMIN_TOKEN``."""
