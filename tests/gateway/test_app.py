"""The app's lifespan: what it leaves behind once started."""

import gc
import warnings

from gateway.values.settings import Settings
from tests.fixtures.core import running_app


async def test_startup_puts_the_long_lived_heap_out_of_the_collectors_sight(
    settings: Settings,
) -> None:
    """Objects made at startup are frozen, so a full collection does not walk them on every
    pass (about 50 ms with the gateway's modules: a stall in the p99). The collector, which
    ``aitopup serve`` holds off while it imports the app, is on once the app has started."""
    gc.unfreeze()
    # What earlier tests' apps froze comes back into sight with the unfreeze; a socket one of
    # them left to the collector would warn here, in a test that did not make it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()
    assert gc.get_freeze_count() == 0
    gc.disable()
    try:
        async with running_app(settings):
            assert gc.isenabled()
            assert gc.get_freeze_count() > 10_000
    finally:
        gc.enable()
