"""The Telegram bot: approvals, alerts and the balance where people are (``bot``), through the
Bot API in webhook mode (``api``), its calls an outbox the worker sends (``calls``)."""
