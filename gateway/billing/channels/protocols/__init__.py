"""Payment channels' own protocols, as each documents them: how a payment is opened, how its
notification is signed and read, how its state is asked for. No store, no orders: what a channel
says, in values the billing code matches against an order."""
