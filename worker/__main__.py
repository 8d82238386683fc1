"""``python -m worker``: the worker process (``worker.service``), imported and started with the
collector held off until it has started (``gateway.ops.collector``)."""

from gateway.ops import collector

with collector.held():
    from worker.service import main

    main()
