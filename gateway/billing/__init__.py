"""Funding the merchant wallet: packs, checkout (Stripe or the staging sandbox), Stripe's
webhook, redemption codes, coupons and the funding history."""
