"""The ARQ worker: webhook delivery, retries and the outbox sweep. ``python -m worker`` runs it."""
