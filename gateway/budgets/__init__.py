"""Budgets that several keys and app connections of a merchant draw on together."""
