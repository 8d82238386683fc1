"""Top-ups: the send, its lifecycle, and reading them back."""
