"""The TLS context every outbound call of a process verifies with.

Made once, on the first call that needs it: building one reads the whole CA bundle, which costs
more CPU (3 to 20 ms) than most calls it serves, and an ``ssl.SSLContext`` is safe to share
between clients, transports and threads. The environment's ``SSL_CERT_FILE``/``SSL_CERT_DIR``
are not read (``trust_env=False``), so what a webhook, a provider or an upstream is verified
against is the bundle shipped with the product, whatever the process was started with.
"""

import functools
import ssl

import httpx

__all__ = ["verifying"]


@functools.cache
def verifying() -> ssl.SSLContext:
    """The process's one verifying client context."""
    return httpx.create_ssl_context(trust_env=False)
