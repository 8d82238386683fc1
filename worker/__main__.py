"""``python -m worker``: the worker process (``worker.service``).

The collector is held off while the process imports and builds itself, and turned back on,
with all it made frozen, once the service has started (``Service.start``): the modules, models
and tables made at import live as long as the process, and the collector's passes over them as
they were made were a fifth of the worker's start (docs/performance.md)."""

import gc

gc.disable()

from worker.service import main  # noqa: E402 - imported with the collector held off

main()
