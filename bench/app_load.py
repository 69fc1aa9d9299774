"""Load benchmark of app/ against a bare-framework baseline, on one machine, loopback only.

    .venv/bin/python bench/app_load.py [--connections 8 32 64] [--duration 4s] [--rounds 3]
        [--steady 10s] [--app-root DIR] [--out .local-deploy/bench/app_load.json]

Starts its own throw-away PostgreSQL (log_connections on), one `python -m app serve` process (its
JSON request log written to a file, as in production) and the baseline (bench/app_baseline.py:
`async def` FastAPI routes, the same SQL on psycopg_pool's AsyncConnectionPool), each on a
database of its own. For GET /health, a note read (GET /notes/{id}) and a note write (POST /notes)
at each connection count, wrk runs against each side in turn, alternating which goes first in each
round; printed and written: medians of requests/s, p50, p99, the server process's CPU per request
(utime + stime from /proc/<pid>/stat around the run), the share of the run its event-loop thread
waited, runnable, for a CPU (the p99's main cause here), and the database connections it opened
during the run (the server log's `connection authorized` lines). Then a steady run of note reads at 32
connections counts the connections each side opens, and the issue's targets are checked.
--app-root serves the app from another checkout (e.g. `git archive <commit> app | tar -x -C DIR`)
for before/after figures. It asserts nothing; the machine is shared, so the figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local import WORKDIR  # noqa: E402
from local.processes import free_port  # noqa: E402
from runner.database import DatabaseError, binary  # noqa: E402

from bench.wrk import NOTE, POST_SCRIPT, wrk  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
POOL_SIZE = 10  # both sides: the app's default DB_POOL_SIZE
TARGETS = "at 32 connections: read and write >= 0.7x the baseline's req/s, /health >= 0.8x; p99 <= 3x p50; no new connections"


def pg_binary(name: str) -> str:
    """runner/database.py's lookup (PATH, then any /usr/lib/postgresql/<major>/bin); exits with its words."""
    try:
        return binary(name)
    except DatabaseError as error:
        sys.exit(f"error: {error}")


class Postgres:
    """A throw-away cluster on 127.0.0.1 that logs every connection it accepts."""

    def __init__(self, work: Path):
        self.port = free_port()
        self.dir = work / "pg"
        self.dir.mkdir()
        self.log = self.dir / "server.log"
        self.as_user = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.dir, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def run(self, *argv: str) -> None:
        done = subprocess.run([*self.as_user, *argv], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            sys.exit(f"error: {' '.join(argv[:1])} failed ({done.returncode}): {done.stderr.strip()[-500:]}")

    def start(self) -> None:
        self.run(pg_binary("initdb"), "-D", str(self.dir / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.dir} "
                   "-c max_connections=200 -c log_connections=on -c fsync=off -c synchronous_commit=off")
        self.run(pg_binary("pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.log), "-o", options, "-w", "start")
        for name in ("app", "baseline"):
            self.run(pg_binary("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)

    def stop(self) -> None:
        self.run(pg_binary("pg_ctl"), "-D", str(self.dir / "data"), "-m", "immediate", "stop")

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def connections_opened(self, database: str) -> int:
        return len(re.findall(rf"connection authorized: user=\S+ database={database}\b", self.log.read_text()))


def run_queue_seconds(pid: int) -> float:
    """Time the server's event-loop thread spent runnable but waiting for a CPU (/proc/<pid>/schedstat, ns):
    on 2 shared cores this, not the server's own work, is what stretches p99 (measured: runs with 0-1% of the
    wall time waiting had p99 1.6-2.2x p50, runs with 15-21% had 3.9-8x, for the app and the baseline alike)."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9


def cpu_seconds(pid: int) -> float:
    # Fields after the command's closing parenthesis; utime and stime are the 14th and 15th of the line.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class Side:
    """One server under test: its process, address and database."""

    def __init__(self, name: str, argv: list[str], cwd: Path, env: dict, database: str, log: Path):
        self.name, self.database = name, database
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log.open("w")
        self.process = subprocess.Popen([a.replace("{port}", str(self.port)) for a in argv], cwd=cwd,
                                        env=os.environ | env | {"PORT": str(self.port)}, stdout=self.log,
                                        stderr=subprocess.STDOUT)

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                sys.exit(f"error: {self.name} exited with {self.process.returncode}; see {self.log.name}")
            try:
                if httpx.get(f"{self.base}/health", timeout=2, trust_env=False).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        sys.exit(f"error: {self.name} did not answer /health within {timeout:.0f} s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def measure(side: Side, pg: Postgres, path: str, connections: int, duration: str, script: Path | None) -> dict:
    opened, cpu = pg.connections_opened(side.database), cpu_seconds(side.process.pid)
    waited, started = run_queue_seconds(side.process.pid), time.monotonic()
    run = wrk(side.base + path, connections, duration, script)
    run["cpu_us_per_request"] = (cpu_seconds(side.process.pid) - cpu) / max(run["requests"], 1) * 1e6
    run["cpu_wait_pct"] = (run_queue_seconds(side.process.pid) - waited) / (time.monotonic() - started) * 100
    run["new_connections"] = pg.connections_opened(side.database) - opened
    return run


def median_of(runs: list[dict]) -> dict:
    figures = {k: round(statistics.median(r[k] for r in runs), 2) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_request", "cpu_wait_pct")}
    figures["new_connections"] = max(r["new_connections"] for r in runs)
    figures["non_2xx"] = sum(r["non_2xx"] for r in runs)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--duration", default="4s", help="of each wrk run (default 4s)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per side and case, alternating which goes first")
    parser.add_argument("--steady", default="10s", help="the steady run that counts new database connections")
    parser.add_argument("--app-root", type=Path, default=ROOT, help="the checkout whose app/ is served (default: this one)")
    parser.add_argument("--out", type=Path, default=WORKDIR / "bench" / "app_load.json")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed: apt-get install wrk (tools/setup.sh containers)")
    python = sys.executable
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="app-load-") as tmp, ExitStack() as cleanup:  # servers stop first
        work = Path(tmp)
        work.chmod(0o755)  # PostgreSQL's own user must reach its directory inside
        pg = Postgres(work)
        print(f"starting PostgreSQL on 127.0.0.1:{pg.port} ...", flush=True)
        pg.start()
        cleanup.callback(pg.stop)
        env = {"HOST": "127.0.0.1", "DB_SSLMODE": "disable", "PYTHONPATH": str(args.app_root)}
        for database in ("app", "baseline"):  # the same schema for both
            subprocess.run([python, "-m", "app", "migrate"], cwd=args.app_root, check=True, capture_output=True,
                           env=os.environ | env | {"DATABASE_URL": pg.url(database)}, timeout=120)
        app = Side("app", [python, "-m", "app", "serve"], args.app_root,
                   env | {"DATABASE_URL": pg.url("app"), "DB_POOL_SIZE": str(POOL_SIZE)}, "app", work / "app.log")
        cleanup.callback(app.stop)
        baseline = Side("baseline", [python, "-m", "uvicorn", "bench.app_baseline:app", "--host", "127.0.0.1",
                                     "--port", "{port}", "--no-access-log", "--log-level", "warning"], ROOT,
                        {"BASELINE_DATABASE_URL": pg.url("baseline"), "BASELINE_POOL_SIZE": str(POOL_SIZE)},
                        "baseline", work / "baseline.log")
        cleanup.callback(baseline.stop)
        sides = [app, baseline]
        note_ids = {}
        for side in sides:
            side.wait_healthy()
            created = httpx.post(f"{side.base}/notes", json=NOTE, trust_env=False, timeout=10)
            created.raise_for_status()
            note_ids[side.name] = created.json()["id"]
            wrk(f"{side.base}/notes/{note_ids[side.name]}", 64, "2s", None)  # warm up: imports, pool, prepared statements
        post = work / "post.lua"
        post.write_text(POST_SCRIPT)
        cases = {"GET /health": (lambda s: "/health", None), "GET /notes/{id}": (lambda s: f"/notes/{note_ids[s.name]}", None),
                 "POST /notes": (lambda s: "/notes", post)}
        total = len(args.connections) * len(cases) * args.rounds * 2
        print(f"{total} wrk runs of {args.duration}, then a steady {args.steady} run per side; app from {args.app_root}",
              flush=True)
        done = 0
        for connections in args.connections:
            for name, (path, script) in cases.items():
                runs: dict[str, list[dict]] = {side.name: [] for side in sides}
                for round_number in range(args.rounds):
                    for side in sides if round_number % 2 == 0 else sides[::-1]:
                        runs[side.name].append(measure(side, pg, path(side), connections, args.duration, script))
                        done += 1
                        print(f"  [{done}/{total}] {name} c={connections} {side.name}: {runs[side.name][-1]['rps']:.0f} req/s",
                              flush=True)
                results.setdefault(str(connections), {})[name] = {side: median_of(r) for side, r in runs.items()}
        steady = {side.name: measure(side, pg, f"/notes/{note_ids[side.name]}", 32, args.steady, None)["new_connections"]
                  for side in sides}

    report(results, steady, args)
    return 0


def report(results: dict, steady: dict, args) -> None:
    print(f"\nmedians of {args.rounds} alternated {args.duration} runs (wrk -t2); noisy: 2 shared cores")
    print(f"{'request':<16} {'c':>3} {'side':<9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>10} {'CPU wait':>8} "
          f"{'new conns':>9} {'non-2xx':>7}  app/baseline req/s, CPU")
    for connections, cases in results.items():
        for name, sides in cases.items():
            ratio = sides["app"]["rps"] / sides["baseline"]["rps"]
            cpu = sides["app"]["cpu_us_per_request"] / sides["baseline"]["cpu_us_per_request"]
            for side, f in sides.items():
                print(f"{name:<16} {connections:>3} {side:<9} {f['rps']:>8.0f} {f['p50_ms']:>8.2f} {f['p99_ms']:>8.2f} "
                      f"{f['cpu_us_per_request']:>10.0f} {f['cpu_wait_pct']:>7.0f}% {f['new_connections']:>9} {f['non_2xx']:>7}"
                      + (f"  {ratio:.2f}x, {cpu:.2f}x" if side == "app" else ""))
    checks = {}
    at32 = results.get("32")
    if at32:
        for name, floor in (("GET /notes/{id}", 0.7), ("POST /notes", 0.7), ("GET /health", 0.8)):
            ratio = at32[name]["app"]["rps"] / at32[name]["baseline"]["rps"]
            checks[f"{name} req/s >= {floor}x baseline"] = (round(ratio, 2), ratio >= floor)
            tail = at32[name]["app"]["p99_ms"] / at32[name]["app"]["p50_ms"]
            checks[f"{name} p99 <= 3x p50"] = (round(tail, 2), tail <= 3)
    checks["no new connections in the steady run"] = (steady["app"], steady["app"] == 0)
    print(f"\nsteady {args.steady} note reads at 32 connections, new database connections: "
          f"app {steady['app']}, baseline {steady['baseline']}")
    print(f"targets ({TARGETS}):")
    for check, (value, ok) in checks.items():
        print(f"  {'MET ' if ok else 'MISS'} {check}: {value}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "app_root": str(args.app_root),
        "duration": args.duration, "rounds": args.rounds, "results": results, "steady_new_connections": steady,
        "targets": {check: {"value": value, "met": ok} for check, (value, ok) in checks.items()},
    }, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    sys.exit(main())
