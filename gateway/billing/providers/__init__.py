"""The providers of an agent's payment on a 402: MPP (a Stripe PaymentIntent confirmed with a
Shared Payment Token, ``mpp``, with the staging sandbox's tokens in ``sandbox_spt`` and Stripe's
calls of its own in ``stripe_shared``) and x402 (``x402``). Each is a channel like any other,
registered by one line of ``billing.channels.registry`` and built on its interface
(``billing.channels.providers.base``)."""
