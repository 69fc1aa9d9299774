"""One progress printer for every local command: a line, or numbered and timed steps.

    steps = Steps(total=3)
    with steps.step("building the image"):      # ==> [1/3] building the image ...
        ...                                       #     done in 8.7 s   (or: FAILED in 8.7 s)

Lines go to stderr unless a command keeps its progress on stdout (`make demo`, whose stdout a person reads);
a long step's heartbeat is a line of the same stream (tools/terraform.py prints how many resources are done).
"""
from __future__ import annotations

import sys
import time
from typing import TextIO


def say(line: str, stream: TextIO | None = None) -> None:
    print(line, file=stream or sys.stderr, flush=True)


def duration(seconds: float) -> str:
    """`8.7 s` under a minute and a half, `2 min 05 s` above."""
    return f"{seconds:.1f} s" if seconds < 90 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


class Steps:
    """Timed steps, numbered `[n/total]` when the total is known; `timings` keeps (title, seconds) of each."""

    def __init__(self, total: int | None = None, stream: TextIO | None = None) -> None:
        self.total, self.stream = total, stream
        self.timings: list[tuple[str, float]] = []
        self._n = 0

    def step(self, title: str) -> "_Step":
        self._n += 1
        return _Step(self, title, f"[{self._n}/{self.total}] {title}" if self.total else title)


class _Step:
    def __init__(self, steps: Steps, title: str, shown: str) -> None:
        self.steps, self.title, self.shown = steps, title, shown

    def __enter__(self) -> "_Step":
        self.started = time.monotonic()
        say(f"==> {self.shown} ...", self.steps.stream)
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        seconds = time.monotonic() - self.started
        self.steps.timings.append((self.title, seconds))
        say(f"    {'done' if kind is None else 'FAILED'} in {duration(seconds)}", self.steps.stream)


def step(title: str, stream: TextIO | None = None) -> _Step:
    """One timed step, unnumbered: `==> title ...`, then `    done in 1.2 s`."""
    return Steps(stream=stream).step(title)
