"""The keys a merchant's wallet pays sellers with: one a protocol whose payer is ``keyed`` (x402's
EIP-3009 authorizations are signed by the payer's own key), per merchant and environment.

``service``: the operations every door runs (set one, imported or made; list them; remove one),
the merchant's own act (a key of its own with ``billing``, or an owner on the dashboard);
``protocols.payer_keys``: the table and the seal (context: merchant, environment, protocol), and
the one read a payer makes (``payer_keys.opened``) when it makes a credential. The secret is
never shown after it is set, not even a key the gateway made: the merchant funds the address.

Nothing is imported here: a payer reads the keys at rest in its own wing (``protocols``), below
the registry that ``service`` asks."""
