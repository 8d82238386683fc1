"""Modules a request may be first to need, imported off the event loop.

The gateway starts without the libraries only some requests need (``tests/test_imports.py``):
the MCP SDK, the EVM signers an x402 payment uses (eth-account, x402's EVM scheme), Stripe's
package. Imported by the first request that needs one, on the event loop, each held every other
request for its whole import: seconds for the EVM signers on a fresh process (the first x402
payment of a process stalled it 1.6-2.7 s; racers meanwhile got 503). ``loaded`` imports a
module on a thread the first time and returns at once after, so a request awaits the import
while others are served; the plain ``import`` after it finds the module whole.
"""

import asyncio
import importlib
import sys
from types import ModuleType

__all__ = ["loaded"]

# What an import on a thread has finished: a module in ``sys.modules`` may still be being
# imported by another thread, and importing it on the loop would wait for that thread.
_DONE: set[str] = set()


async def loaded(name: str) -> ModuleType:
    """The module ``name``, imported on a worker thread unless an earlier call did."""
    if name not in _DONE:
        await asyncio.to_thread(importlib.import_module, name)
        _DONE.add(name)
    return sys.modules[name]
