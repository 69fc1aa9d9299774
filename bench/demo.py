"""Benchmark: where `make demo`'s time goes, cold and warm, for this commit and (optionally) an older one.

    .venv/bin/python bench/demo.py [--baseline REV] [--env dev] [--out .local-deploy/bench/demo.json]

For each revision (HEAD, then REV): a fresh clone in a temporary folder; **cold** is `make demo` there with
an empty image cache (the Debian base, the wheelhouse and the layers are made again; pip's and npm's caches
are the machine's: "packages already on the machine"); **warm** is `make demo-down` then `make demo` again
in the same clone (the image cache kept). Prints each step's time as `make demo` printed it, the total, and
for each `terraform apply` the slowest resources with the wait the provider has written for that type
(PROVIDER_WAITS, read in hashicorp/terraform-provider-aws: the README's "Demo speed"). Ends with
`make demo-down`. Asserts nothing. Takes about 6 minutes per `make demo`: 25 for two revisions.
Never run it beside `make demo` or `make test`: they share the runner's loopback addresses.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROVIDER_WAITS = {
    "aws_db_instance": "waitDBInstanceAvailable: Delay 1 min, then 3 reads 10 s apart (80 s); delete: Delay 1 min",
    "aws_lb": "waitLoadBalancerActive after create and after attributes: Delay 30 s each (60 s)",
    "aws_s3_bucket_lifecycle_configuration": "waitLifecycleConfigEquals: Delay 10 s, 10 equal reads 5 s apart (55 s)",
    "aws_kms_key": "rotation, policy and tags: 5 equal reads each, MinTimeout 1 s (12-13 s)",
    "aws_ecs_cluster": "waitClusterAvailable: Delay 10 s",
    "aws_vpc": "enableDnsHostnames: Delay 10 s",
    "aws_nat_gateway": "delete: Delay 10 s",
    "aws_vpc_endpoint": "Delay 5 s",
}
STEP = re.compile(r"^==> \[(\d+)/(\d+)\] (.*) \.\.\.$")
DONE = re.compile(r"^    (done|FAILED) in (.*)$")
CREATED = re.compile(r"^(\S+?)\.(\S+): Creation complete after (?:(\d+)m)?(\d+)s")


def seconds(text: str) -> float:
    """`make demo`'s durations: `1 min 43 s`, `8.5 s`."""
    minutes = re.search(r"(\d+) min", text)
    secs = re.search(r"([\d.]+) s", text)
    return (int(minutes.group(1)) * 60 if minutes else 0) + (float(secs.group(1)) if secs else 0)


def steps(output: str) -> list[tuple[str, float, bool]]:
    found, title = [], None
    for line in output.splitlines():
        if m := STEP.match(line):
            title = m.group(3)
        elif (m := DONE.match(line)) and title:
            found.append((title, seconds(m.group(2)), m.group(1) == "done"))
            title = None
    return found


def slowest(log: Path, n: int = 6) -> list[tuple[str, int]]:
    times = []
    for line in log.read_text(errors="replace").splitlines():
        if m := CREATED.match(line):
            times.append((f"{m.group(1)}.{m.group(2)}", int(m.group(3) or 0) * 60 + int(m.group(4))))
    return sorted(times, key=lambda t: -t[1])[:n]


def cache_without_images(folder: Path) -> Path:
    """An XDG cache folder that holds the machine's caches but the image's (an empty image cache)."""
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder.mkdir()
    for entry in home.iterdir() if home.is_dir() else []:
        if entry.name != "notes-app-image":
            (folder / entry.name).symlink_to(entry)
    return folder


def make_demo(clone: Path, env: dict[str, str], stack: str) -> dict:
    started = time.monotonic()
    result = subprocess.run(["make", "demo", f"ENV={stack}"], cwd=clone, env=env, capture_output=True, text=True)
    total = time.monotonic() - started
    logs = sorted((clone / ".local-deploy" / "logs").glob("*-apply.log"))
    return {"total": round(total, 1), "ok": result.returncode == 0, "steps": steps(result.stdout),
            "applies": {log.name: slowest(log) for log in logs}, "tail": result.stderr[-2000:]}


def run(rev: str, stack: str, scratch: Path) -> dict:
    clone = scratch / rev.replace("/", "_") / "notes-service"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    subprocess.run(["git", "checkout", "-q", rev], cwd=clone, check=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache_without_images(scratch / f"{rev}-cache"))}
    env.pop("MAKEFLAGS", None)
    figures = {}
    try:
        for kind in ("cold", "warm"):
            if kind == "warm":
                subprocess.run(["make", "demo-down"], cwd=clone, env=env, capture_output=True, text=True)
            print(f"== {rev}: make demo ({kind}) ...", flush=True)
            figures[kind] = make_demo(clone, env, stack)
            show(rev, kind, figures[kind])
    finally:
        subprocess.run(["make", "demo-down"], cwd=clone, env=env, capture_output=True, text=True)
    return figures


def show(rev: str, kind: str, figure: dict) -> None:
    print(f"{rev} {kind}: {figure['total']:.1f} s{'' if figure['ok'] else '  FAILED: ' + figure['tail'][-300:]}")
    for title, secs, ok in figure["steps"]:
        print(f"  {secs:7.1f} s  {'' if ok else 'FAILED '}{title}")
    for log, resources in figure["applies"].items():
        print(f"  slowest in {log}:")
        for address, secs in resources:
            wait = PROVIDER_WAITS.get(address.split(".")[0], "")
            print(f"    {secs:4d} s  {address}{'  <- ' + wait if wait else ''}")
    sys.stdout.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="also measure this revision (a commit, a branch), after HEAD")
    parser.add_argument("--env", default="dev", help="the environment (make demo ENV=...), default dev")
    parser.add_argument("--out", default=str(ROOT / ".local-deploy" / "bench" / "demo.json"))
    args = parser.parse_args()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as scratch:
        for rev in [head] + ([args.baseline] if args.baseline else []):
            results[rev] = run(rev, args.env, Path(scratch))
    print("\nsummary (seconds): revision, cold, warm")
    for rev, figure in results.items():
        print(f"  {rev:<12} {figure['cold']['total']:7.1f} {figure['warm']['total']:7.1f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"written: {args.out}")
    return 0 if all(f[k]["ok"] for f in results.values() for k in f) else 1


if __name__ == "__main__":
    sys.exit(main())
