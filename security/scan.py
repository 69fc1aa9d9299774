"""Run checkov on synthesized stacks or on a Terraform plan, and hold its findings against the skip list.

    .venv/bin/python -m security.scan [cdktf.out]     every stack: passed / failed / skipped, exit 1 on a problem

"failed" counts failed checks the skip list (security/checkov-skips.toml) does not explain; "skipped"
counts those it does. An entry applies by what makes it true, never by a stack's name: the kind of stack
(`bootstrap`, or `app` for every environment) and, optionally, `when`: the settings under which the
check fails (e.g. `{ "load_balancer.http_only" = true }`), read from each stack's configuration.

checkov lives in its own venv (`tools/setup.sh checkov`); set CHECKOV to use another binary. It reads
CDKTF output only as `-f <stack>/cdk.tf.json --framework terraform_json` (`-d` scans nothing there),
and a plan as `terraform show -json` output with `--framework terraform_plan`.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SKIP_LIST = ROOT / "security" / "checkov-skips.toml"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
_CHECK_ID = re.compile(r"^CKV2?_[A-Z0-9]+_\d+$")


@dataclass(frozen=True)
class Finding:
    check_id: str
    resource: str
    """As checkov names it: `aws_lb.load-balancer_alb_15AADC07`, sometimes `resource.<logical id>`."""
    name: str

    @property
    def logical_id(self) -> str:
        return self.resource.rsplit(".", 1)[-1]


KINDS = ("bootstrap", "app")


@dataclass(frozen=True)
class Stack:
    """A synthesized stack and the configuration it was built from (BootstrapConfig or EnvironmentConfig)."""

    name: str
    kind: str
    config: Any

    def setting(self, dotted: str) -> Any:
        value = self.config
        for part in dotted.split("."):
            if not hasattr(value, part):
                raise ValueError(f"`when` names {dotted!r}, which is not a setting of a {self.kind} stack")
            value = getattr(value, part)
        return value


@dataclass(frozen=True)
class Skip:
    check: str
    kind: str
    """`bootstrap` or `app`: the kind of stack the entry is about."""
    resource: str
    reason: str
    when: tuple[tuple[str, Any], ...] = ()
    """Settings that must all hold for the check to fail: (dotted field, value) pairs."""

    def applies(self, stack: Stack) -> bool:
        return stack.kind == self.kind and all(stack.setting(k) == v for k, v in self.when)

    def covers(self, stack: Stack, finding: Finding) -> bool:
        # cdktf appends an 8-digit hash to every logical ID below the stack's top level.
        return (finding.check_id == self.check and self.applies(stack) and
                re.fullmatch(re.escape(self.resource) + r"(_[0-9A-F]{8})?", finding.logical_id) is not None)

    def describe(self) -> str:
        return f"{self.check} on {self.resource}" + (
            " when " + ", ".join(f"{k} = {v!r}" for k, v in self.when) if self.when else "")


@dataclass(frozen=True)
class Report:
    """One checkov run on one stack (or one plan of it)."""

    stack: Stack
    passed: int
    failed: tuple[Finding, ...]

    def unexplained(self, skips: list[Skip]) -> list[Finding]:
        """Failed checks the skip list does not cover: each one is a finding to fix."""
        return [f for f in self.failed if not any(s.covers(self.stack, f) for s in skips)]

    def stale(self, skips: list[Skip]) -> list[Skip]:
        """Entries that apply to this stack but whose check no longer fails here: fix or remove them."""
        return [s for s in skips if s.applies(self.stack) and not any(s.covers(self.stack, f) for f in self.failed)]

    def skipped(self, skips: list[Skip]) -> list[Finding]:
        return [f for f in self.failed if any(s.covers(self.stack, f) for s in skips)]

    def problems(self, skips: list[Skip]) -> list[str]:
        """Unexplained failures and stale entries, one line each; empty when the stack is clean."""
        return ([f"{self.stack.name}: {f.check_id} failed on {f.resource}: {f.name}" for f in self.unexplained(skips)] +
                [f"{self.stack.name}: skip entry {s.describe()} no longer fails: remove it from "
                 f"{SKIP_LIST.relative_to(ROOT)}" for s in self.stale(skips)])


def load_skips(path: Path = SKIP_LIST) -> list[Skip]:
    """The skip list, each entry checked: a checkov ID, a kind of stack, a resource, a reason, maybe `when`."""
    entries = tomllib.loads(path.read_text()).get("skip", [])
    skips = []
    for i, entry in enumerate(entries):
        where = f"{path.name} entry {i + 1} ({entry.get('check')})"
        if not {"check", "kind", "resource", "reason"} <= set(entry) <= {"check", "kind", "resource", "reason", "when"}:
            raise ValueError(f"{where}: needs check, kind, resource and reason (and optionally when); "
                             f"has {sorted(entry)}")
        if not _CHECK_ID.fullmatch(entry["check"]):
            raise ValueError(f"{where}: {entry['check']!r} is not a checkov check ID")
        if entry["kind"] not in KINDS:
            raise ValueError(f"{where}: kind must be one of {', '.join(KINDS)}, not {entry['kind']!r}")
        if not isinstance(entry.get("when", {}), dict):
            raise ValueError(f"{where}: when must be a table of settings, e.g. {{ \"load_balancer.http_only\" = true }}")
        if len(entry["reason"].split()) < 6:
            raise ValueError(f"{where}: give the reason in a sentence")
        skips.append(Skip(entry["check"], entry["kind"], entry["resource"], entry["reason"],
                          tuple(sorted(entry.get("when", {}).items()))))
    keys = [(s.check, s.kind, s.resource, s.when) for s in skips]
    if len(set(keys)) != len(keys):
        raise ValueError(f"{path.name}: a check, kind, resource and condition appear in more than one entry")
    return skips


def checkov_command() -> list[str]:
    """How to run checkov ($CHECKOV, else its own venv's): a script with a `python` beside it (a venv's) runs
    through that python, because the kernel splits a `#!` line at its first space, so the script's own shebang
    fails in a checkout whose path has one."""
    path = Path(os.environ.get("CHECKOV") or CHECKOV)
    if not path.is_file():
        raise FileNotFoundError(f"checkov is not installed at {path}: run `tools/setup.sh checkov`")
    python = path.with_name("python")
    return [str(python), str(path)] if python.is_file() else [str(path)]


def scan(path: Path, framework: str, stack: Stack) -> Report:
    """Run checkov on one file; fail unless it parsed the file and ran checks on it."""
    command = [*checkov_command(), "-f", str(path), "--framework", framework, "--output", "json",
               # No calls home: no guideline download, no version check, no platform.
               "--skip-download"]
    # A CHECKOV_NO_OUTPUT from the caller's shell would leave nothing to parse.
    env = {**os.environ, "LOG_LEVEL": "ERROR", "CHECKOV_NO_OUTPUT": "False"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    # checkov exits 1 when a check fails; anything else is checkov itself failing.
    if result.returncode not in (0, 1):
        raise RuntimeError(f"checkov failed on {path} (exit {result.returncode}):\n{result.stderr[-3000:]}")
    output = json.loads(result.stdout)
    reports = output if isinstance(output, list) else [output]
    summary = {k: sum(r.get("summary", {}).get(k, 0) for r in reports) for k in ("passed", "failed", "parsing_errors")}
    if summary["parsing_errors"] or summary["passed"] + summary["failed"] == 0:
        raise RuntimeError(f"checkov scanned nothing in {path} with --framework {framework}: {summary}\n"
                           f"{result.stderr[-3000:]}")
    failed = tuple(sorted({Finding(c["check_id"], c["resource"], c["check_name"])
                           for r in reports for c in r.get("results", {}).get("failed_checks", [])},
                          key=lambda f: (f.check_id, f.resource)))
    return Report(stack=stack, passed=summary["passed"], failed=failed)


def scan_stack(outdir: Path, stack: Stack) -> Report:
    """checkov on one synthesized stack (`<outdir>/stacks/<stack>/cdk.tf.json`)."""
    path = outdir / "stacks" / stack.name / "cdk.tf.json"
    document = json.loads(path.read_text())
    if "moved" not in document:
        return scan(path, "terraform_json", stack)
    # checkov 3.3's terraform_json parser fails on `moved` blocks, which only rename state addresses and
    # hold nothing to check: scan a copy without them.
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / "cdk.tf.json"
        copy.write_text(json.dumps({k: v for k, v in document.items() if k != "moved"}))
        return scan(copy, "terraform_json", stack)


def scan_plan(plan_json: Path, stack: Stack) -> Report:
    """checkov on `terraform show -json <planfile>` output for `stack`: resolved values and graph checks."""
    return scan(plan_json, "terraform_plan", stack)


def scan_terraform_plan(workdir: Path, planfile: str, stack: Stack, env: dict[str, str] | None = None) -> Report:
    """`terraform show -json <planfile>` in an initialized `workdir`, then checkov on that plan JSON."""
    shown = subprocess.run(["terraform", "show", "-json", "-no-color", planfile], cwd=workdir, env=env,
                           capture_output=True, text=True, timeout=300)
    if shown.returncode != 0:
        raise RuntimeError(f"terraform show -json {planfile} failed:\n{shown.stderr[-3000:]}")
    plan_json = workdir / f"{planfile}.json"
    plan_json.write_text(shown.stdout)
    return scan_plan(plan_json, stack)


def scan_secrets(directory: Path) -> list[str]:
    """checkov's secret detectors (cloud keys, tokens, private keys...) over every file under `directory`."""
    command = [*checkov_command(), "-d", str(directory), "--framework", "secrets", "--output", "json",
               "--skip-download"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "LOG_LEVEL": "ERROR", "CHECKOV_NO_OUTPUT": "False"})
    if result.returncode not in (0, 1):
        raise RuntimeError(f"checkov secrets failed on {directory} (exit {result.returncode}):\n{result.stderr[-3000:]}")
    output = json.loads(result.stdout)
    return [f"{c['file_path']}:{(c.get('file_line_range') or ['?'])[0]}: {c['check_id']} {c['check_name']}"
            for r in (output if isinstance(output, list) else [output])
            for c in r.get("results", {}).get("failed_checks", [])]


def stacks_of(bootstrap: Any, environments: dict[str, Any]) -> dict[str, Stack]:
    """The stacks main.py builds from a configuration: the bootstrap stack and one per environment."""
    from infra.config import BOOTSTRAP_STACK

    return {BOOTSTRAP_STACK: Stack(BOOTSTRAP_STACK, "bootstrap", bootstrap),
            **{name: Stack(name, "app", config) for name, config in environments.items()}}


def scan_all(outdir: Path, stacks: dict[str, Stack]) -> list[Report]:
    """Every stack in `outdir`, in parallel (each run is one ~2 s checkov process); each must be in `stacks`."""
    found = sorted(p.name for p in (outdir / "stacks").iterdir() if (p / "cdk.tf.json").is_file())
    unknown = [name for name in found if name not in stacks]
    if unknown:
        raise ValueError(f"no configuration for stack(s) {', '.join(unknown)} in {outdir}: synthesize again "
                         "(`make synth`) or remove them")
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        return list(pool.map(lambda name: scan_stack(outdir, stacks[name]), found))


def describe(reports: list[Report], skips: list[Skip]) -> tuple[str, bool]:
    """A table of passed / failed / skipped per stack and the problems under it; True when clean."""
    lines = [f"{'stack':<10} {'passed':>6} {'failed':>6} {'skipped':>7}"]
    problems = []
    for r in reports:
        lines.append(f"{r.stack.name:<10} {r.passed:>6} {len(r.unexplained(skips)):>6} {len(r.skipped(skips)):>7}")
        problems += r.problems(skips)
    return "\n".join(lines + problems), not problems


def main(argv: list[str]) -> int:
    from infra import environments

    outdir = Path(argv[0] if argv else "cdktf.out")
    stacks = stacks_of(environments.BOOTSTRAP, environments.ENVIRONMENTS)
    text, clean = describe(scan_all(outdir, stacks), load_skips())
    print(text)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
