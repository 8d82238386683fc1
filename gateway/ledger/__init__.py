"""The ledger: the only code that changes a balance."""
