"""Print the mutation score of each mutated file after `mutmut run` (make mutation runs both).

    .venv/bin/python bench/mutation_scores.py

Reads `mutmut results --all true`. The score is killed / all mutants: a mutant that no test runs
(status "no tests") or that outlives its tests counts against it.
"""
from __future__ import annotations

import collections
import subprocess
import sys


def main() -> int:
    lines = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True,
                           text=True, check=True).stdout.splitlines()
    by_file: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in lines:
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        module = name.split(".x_")[0].split(".xǁ")[0]  # functions: module.x_f__mutmut_1; methods: module.xǁClassǁ...
        by_file[module.replace(".", "/") + ".py"][status] += 1
    if not by_file:
        print("no mutants: run `mutmut run` first", file=sys.stderr)
        return 1
    for path, counts in sorted(by_file.items()):
        total = sum(counts.values())
        others = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()) if status != "killed")
        print(f"{path}: {counts['killed']}/{total} mutants killed ({100 * counts['killed'] / total:.1f}%)"
              + (f"; {others}" if others else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
