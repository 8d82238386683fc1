"""Event destinations beyond HTTP: a destination type is one module here (``base.Destination``)
and one line of ``registry.DESTINATIONS``, as a channel, a protocol and an upstream are. The
delivery row, its lease, retries, log, replay, ordering and throttles are the worker's, whatever
the type; only the exchange changes, and the broker's acknowledgement is the attempt's outcome.
``http`` is the worker's own checked transport, the type of every endpoint with a ``url``."""
