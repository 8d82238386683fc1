"""Webhooks on the gateway side: the outbox writer, endpoints and deliveries."""
