"""Benchmark: the deployed system through its load balancer versus a bare-framework baseline.

    .venv/bin/python bench/load_balancer.py --target http://127.0.0.1:PORT --database-url postgresql://...
        [--connections 32] [--duration 10s] [--rounds 3] [--out .local-deploy/bench/load_balancer.json]

--target is the load balancer's address (HAProxy in front of the tasks); --database-url the database
the tasks use: the baseline (bench/app_baseline.py: async FastAPI on uvicorn, one route per request, the
same SQL on psycopg's async pool) is started here on it, so both sides read the same rows. For GET /health, a note read and a
note write, wrk runs against each side in turn, alternating which goes first in each round, and the
medians of requests/s, p50 and p99 are printed with the issue's targets (note read through the load
balancer >= 0.5x the baseline's requests/s; its p99 <= 3x its p50). It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local import WORKDIR  # noqa: E402
from local.processes import free_port  # noqa: E402

from bench.wrk import NOTE, POST_SCRIPT, wrk  # noqa: E402


def loopback(url: str) -> str:
    host = httpx.URL(url).host
    if host not in ("127.0.0.1", "localhost") and not host.startswith("127."):
        sys.exit(f"error: {url} is not on 127.0.0.0/8: this benchmark only sends traffic to this machine")
    return url.rstrip("/")


def wait_healthy(base: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=2, trust_env=False).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit(f"error: {base}/health did not answer 200 within {timeout:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True, help="the load balancer's URL (127.0.0.0/8 only)")
    parser.add_argument("--database-url", required=True, help="the database the tasks use (postgresql://...)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", default="10s")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(WORKDIR / "bench" / "load_balancer.json"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed: apt-get install wrk (tools/setup.sh containers)")
    target = loopback(args.target)
    port = free_port()
    baseline = f"http://127.0.0.1:{port}"
    database_url = make_url(args.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.app_baseline:app", "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env=os.environ | {"BASELINE_DATABASE_URL": database_url})
    results: dict[str, dict[str, list[dict]]] = {}
    try:
        wait_healthy(target)
        wait_healthy(baseline)
        created = httpx.post(f"{target}/notes", json=NOTE, trust_env=False, timeout=10)
        created.raise_for_status()
        note_id = created.json()["id"]
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as post:
            post.write(POST_SCRIPT)
            post.flush()
            requests = {"GET /health": ("/health", None), "GET /notes/{id}": (f"/notes/{note_id}", None),
                        "POST /notes": ("/notes", Path(post.name))}
            print(f"wrk -t2 -c{args.connections} -d{args.duration}, {args.rounds} rounds, alternated; "
                  f"target {target}, baseline {baseline}", flush=True)
            for name, (path, script) in requests.items():
                results[name] = {"load_balancer": [], "baseline": []}
                for round_number in range(args.rounds):
                    sides = [("load_balancer", target), ("baseline", baseline)]
                    for side, base in sides if round_number % 2 == 0 else reversed(sides):
                        results[name][side].append(wrk(base + path, args.connections, args.duration, script))
    finally:
        server.terminate()
        server.wait(timeout=30)
    summary = {}
    for name, sides in results.items():
        summary[name] = {}
        for side, runs in sides.items():
            summary[name][side] = {key: round(statistics.median(run[key] for run in runs), 2)
                                   for key in ("rps", "p50_ms", "p99_ms")}
            summary[name][side]["non_2xx"] = sum(run["non_2xx"] for run in runs)
            figures = summary[name][side]
            print(f"{name:<18} {side:<14} {figures['rps']:>9.0f} req/s  p50 {figures['p50_ms']:>7.2f} ms  "
                  f"p99 {figures['p99_ms']:>7.2f} ms  non-2xx {figures['non_2xx']}")
    read = summary["GET /notes/{id}"]
    ratio = read["load_balancer"]["rps"] / read["baseline"]["rps"]
    tail = read["load_balancer"]["p99_ms"] / read["load_balancer"]["p50_ms"]
    print(f"note read: load balancer / baseline = {ratio:.2f}x requests/s (target >= 0.5x); "
          f"p99 / p50 through the load balancer = {tail:.1f}x (target <= 3x)")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"connections": args.connections, "duration": args.duration, "rounds": args.rounds,
                               "results": summary, "read_rps_ratio": round(ratio, 2), "read_p99_over_p50": round(tail, 2)},
                              indent=2) + "\n")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
