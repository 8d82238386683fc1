"""A payment out of a merchant's wallet under its key's policy, whatever it pays (a send, an
app's charge): its plan's parameters and steps (``plan``), and its run once per idempotency
key, a refusal of the store's kept as a reply is (``once``)."""
