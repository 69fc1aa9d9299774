"""Benchmark: stock vs fast synth of every stack, and the unit test suite against one fast synth.

    .venv/bin/python bench/synth.py [--runs 5]

Runs `python main.py` alternately with STOCK_SYNTH=1 and without, each in a fresh folder, and
prints medians of wall time and of peak memory (the whole process tree: Python and the jsii Node
kernel, sampled every 20 ms), the fast/stock ratio (target <= 0.3), then the unit test suite
(`pytest -m "not integration" tests/infra`) against one fast synth (target <= 2x). It prints figures;
it asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


def tree_rss_kb(pid: int) -> int:
    """Resident memory of `pid` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack += children.get(p, [])
    return total


def measure(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kb(proc.pid))
        time.sleep(0.02)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stderr.read().decode()}")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    base = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    for k in ("AWS_ENDPOINT_URL", "ENVIRONMENTS", "IMAGE_TAG", "STOCK_SYNTH", "CDKTF_OUTDIR"):
        base.pop(k, None)
    results: dict[str, list[tuple[float, int]]] = {"stock": [], "fast": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            for mode in ("stock", "fast"):
                cwd = Path(tmp) / f"{mode}-{i}"
                cwd.mkdir()
                env = {**base, **({"STOCK_SYNTH": "1"} if mode == "stock" else {})}
                results[mode].append(measure([PYTHON, str(ROOT / "main.py")], env, cwd))
                print(f"run {i + 1}/{args.runs} {mode:5}: {results[mode][-1][0]:6.2f} s "
                      f"{results[mode][-1][1] / 1024:6.0f} MiB", flush=True)
        suite = [measure([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "not integration",
                          "tests/infra"], base, ROOT) for _ in range(3)]

    def med(mode: str, i: int) -> float:
        return statistics.median(r[i] for r in results[mode])

    stock, fast = med("stock", 0), med("fast", 0)
    suite_time = statistics.median(s[0] for s in suite)
    print(f"\nsynth of all stacks, median of {args.runs} alternating runs")
    print(f"  stock: {stock:6.2f} s   peak {med('stock', 1) / 1024:5.0f} MiB")
    print(f"  fast:  {fast:6.2f} s   peak {med('fast', 1) / 1024:5.0f} MiB")
    print(f"  ratio fast/stock: {fast / stock:.2f} (target <= 0.30)")
    print(f"unit test suite (pytest -m 'not integration' tests/infra), median of 3: {suite_time:.2f} s "
          f"= {suite_time / fast:.2f} x one fast synth (target <= 2)")


if __name__ == "__main__":
    main()
