"""The aiTopUp gateway: HTTP API, auth, envelope, domain services and the store."""
