"""Merchant accounts: the users who sign in to the dashboard, their memberships, their sessions.

A user belongs to a merchant through ``merchant_users`` (several users a merchant fit); the
dashboard acts for the merchant through the same services the API calls.
"""
