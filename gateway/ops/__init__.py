"""How the gateway describes itself and is watched in production: the OpenAPI document, the
docs page and agent guide, request ids, JSON logs and Prometheus metrics."""
