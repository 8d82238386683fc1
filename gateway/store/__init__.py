"""Persistence: the engine and connections (db), the tables (models)."""
