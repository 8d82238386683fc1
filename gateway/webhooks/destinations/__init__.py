"""Event destinations: a destination type is one module here (``base.Destination``) and one
line of ``registry.DESTINATIONS``, as a channel, a protocol and an upstream are. The delivery
row, its lease, retries, log, replay, ordering and throttles are the worker's, whatever the type;
only the exchange changes: ``http`` (``http.py``, every endpoint with a ``url``) POSTs through
the checked transport, a broker's type (``base.Broker``) publishes on a kept client, and the
broker's acknowledgement is the attempt's outcome."""
