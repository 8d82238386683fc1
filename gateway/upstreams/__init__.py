"""Fulfilment by an upstream: the providers' settings, their clients (New API, OpenRouter) and
the checked outbound transport, the outbox of upstream work, and the recipients' upstream keys.
Running a fulfilment (a lifecycle change) is ``gateway.topup.fulfilling``."""
