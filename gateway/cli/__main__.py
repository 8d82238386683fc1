"""``python -m gateway.cli``: the ``aitopup`` command."""

from . import main

if __name__ == "__main__":
    raise SystemExit(main())
