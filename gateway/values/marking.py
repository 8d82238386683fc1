"""Text written in Python that a page shows, marked for the catalogues (``make messages``).

Apart from ``languages`` so the modules that mark a sentence (a password's rule, the CLI's
imports) need not load Babel and Jinja2 to do it.
"""

__all__ = ["marked"]


def marked(message: str) -> str:
    """``message`` as it is: marks text written in Python for the catalogues (``make
    messages``), translated where it is shown (``{{ _(label) }}``, ``{{ message|said }}``)."""
    return message
