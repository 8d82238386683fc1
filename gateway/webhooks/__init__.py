"""Webhooks on the gateway side: endpoints and deliveries (events are written by ``outbox``)."""
