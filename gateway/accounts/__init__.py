"""Merchant accounts: the users who sign in to the dashboard, their memberships, their sessions.

A user belongs to a merchant through ``merchant_users`` (several users a merchant fit); the
dashboard acts for the merchant through the same services the API calls. What a door runs here
(sign-up and sign-in, sessions, passwords and their links, invitations, members) is an operation
like any other: it answers an ``Outcome`` or refuses with a code of the catalogue, and the door
runs it through ``operations.perform``.
"""
