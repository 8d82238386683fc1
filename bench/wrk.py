"""A closed loop driven by ``wrk`` (Debian's package), which outruns the servers it measures.

The Python client (``bench.load``) saturates before bare Starlette does on this kind of machine,
which flattered every ratio against that baseline by up to 1.3x; wrk, in C, spends a fraction of
the CPU a request. Each request is a real merchant's: the body names a recipient of its own and,
for the send, carries an ``Idempotency-Key`` of its own, built by a Lua script from the thread,
a counter and a nonce of the run.
"""

import shutil
import subprocess
import tempfile
import uuid
from collections import Counter
from pathlib import Path

from .load import Result

__all__ = ["available", "closed_loop"]

THREADS = 2
# The longest a window is taken again for, when no reply came back in it.
LONGEST = 16.0

_SCRIPT = r"""
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local counter = 0
local nonce = ""
function init(args)
  nonce = args[1] .. "-" .. tostring(tid)
end

request = function()
  counter = counter + 1
  local tag = nonce .. "-" .. counter
  local headers = {}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  local body = wrk.body
  if KEYED then
    headers["Idempotency-Key"] = tag
    body = string.format(
      '{"platform":"claude","amount_cents":100,"recipient_email":"r%d@example.com"}',
      counter % 2000
    )
  end
  return wrk.format("POST", nil, headers, body)
end

-- What each failed reply answered: its status and the gateway's code, counted per thread.
seen = {}
response = function(status, headers, body)
  if status >= 300 then
    local code = body and string.match(body, '"code"%s*:%s*(%d+)')
    local what = code and (status .. " " .. code) or tostring(status)
    seen[what] = (seen[what] or 0) + 1
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK %d %d %d %.3f %.3f\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
  for _, thread in ipairs(threads) do
    for what, n in pairs(thread:get("seen")) do io.write(string.format("SEEN %d %s\n", n, what)) end
  end
  local unanswered = e.connect + e.read + e.write + e.timeout
  if unanswered > 0 then io.write(string.format("SEEN %d no answer\n", unanswered)) end
end
"""


def available() -> bool:
    return shutil.which("wrk") is not None


def closed_loop(
    url: str,
    *,
    clients: int,
    seconds: float,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    keyed: bool = False,
) -> Result:
    """``clients`` connections for ``seconds``; ``keyed``: each request a send of its own (a
    recipient and an ``Idempotency-Key``), else ``body`` every time. Its p50 and p99 are wrk's.

    A window no reply came back in (each took longer, on a machine busy with other work) is slow,
    not nothing done, as in ``bench.load``'s loops: it is taken again, twice as long, up to
    ``LONGEST`` seconds (wrk counts only the replies that end inside its window)."""
    sent = headers or {}
    result = _run(url, seconds, clients, sent, body, keyed)
    while result.requests == 0 and seconds < LONGEST:
        seconds *= 2
        result = _run(url, seconds, clients, sent, body, keyed)
    return result


def _run(
    url: str, seconds: float, clients: int, headers: dict[str, str], body: bytes, keyed: bool
) -> Result:
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "load.lua"
        preamble = f"KEYED = {'true' if keyed else 'false'}\n"
        preamble += 'wrk.method = "POST"\n'
        preamble += f"wrk.body = [[{body.decode()}]]\n"
        for name, value in {"Content-Type": "application/json", **headers}.items():
            preamble += f'wrk.headers["{name}"] = "{value}"\n'
        script.write_text(preamble + _SCRIPT)
        command = [
            "wrk",
            f"-t{THREADS}",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
            "--",
            uuid.uuid4().hex[:12],
        ]
        out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    [line] = [line for line in out.stdout.splitlines() if line.startswith("WRK ")]
    requests, micros, errors, p50, p99 = line.split()[1:]
    seen: Counter[str] = Counter()
    for said in out.stdout.splitlines():
        if said.startswith("SEEN "):
            _, n, what = said.split(" ", 2)
            seen[what] += int(n)
    return Result(
        int(requests),
        int(micros) / 1e6,
        [],
        int(errors),
        quantiles={0.5: float(p50), 0.99: float(p99)},
        seen=dict(seen),
    )
