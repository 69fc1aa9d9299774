"""Running wrk and reading its report: the one parser the load benchmarks share."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
NOTE = {"title": "benchmark", "body": "x" * 200}
# A wrk script that POSTs NOTE as JSON.
POST_SCRIPT = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = \'%s\'\n' % json.dumps(NOTE)


def wrk(url: str, connections: int, duration: str, script: Path | None = None) -> dict:
    """One wrk run (2 threads, fewer if fewer connections): requests, req/s, p50 and p99 in ms, non-2xx, socket errors."""
    argv = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration}", "--latency", url]
    if script is not None:
        argv[1:1] = ["-s", str(script)]
    return parse(subprocess.run(argv, capture_output=True, text=True, check=True, timeout=600).stdout)


def parse(out: str) -> dict:
    def latency(label: str) -> float:
        value, unit = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M).groups()
        return float(value) * UNITS_MS[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": latency("50%"), "p99_ms": latency("99%"),
            "non_2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}
