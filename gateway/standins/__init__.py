"""Development stand-ins of the upstreams a merchant fulfils through, speaking their documented
routes and shapes on this machine: New API (``newapi``) and OpenRouter's key management API
(``openrouter``); of the x402 facilitator agents' payments settle through (``x402``); and
of Google Cloud Pub/Sub's publish API, which ``pubsub`` destinations publish to (``pubsub``).
``aitopup dev newapi``, ``aitopup dev openrouter`` and ``aitopup dev x402`` serve them
(``command``; ``make run`` starts the facilitator itself), so a send's whole journey runs with
no outside service; the tests serve the same ones. State is in memory and goes with the process."""
