"""What a test tells a stand-in to do wrong: ``down`` (every call 503), ``fail_next`` (the next
calls 503), ``delay`` (seconds before each answer). ``calls`` counts the calls it saw."""

import asyncio
from dataclasses import dataclass

from starlette.responses import JSONResponse, Response

__all__ = ["Faults"]


@dataclass
class Faults:
    down: bool = False
    fail_next: int = 0
    delay: float = 0.0
    calls: int = 0

    async def before(self) -> Response | None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow upstream, as a test asks for
        if self.down:
            return JSONResponse({"success": False, "message": "down"}, status_code=503)
        if self.fail_next > 0:
            self.fail_next -= 1
            return JSONResponse({"success": False, "message": "busy"}, status_code=503)
        return None
