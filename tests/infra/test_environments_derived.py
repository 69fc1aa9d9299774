"""An environment is one entry: nothing else in the repository names the configured environments.

The integration tests copy the repository, change only `infra/environments.py` the way a team would
(one more entry; another state bucket and region), and run the unit suite, `python main.py` and the
checkov scan there with this checkout's interpreter.
"""
from __future__ import annotations

import ast
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from infra import environments
from tests.stacks import ROOT, TEST_STACK_CONFIGS
from security.scan import CHECKOV

# What the user-facing variables of this machine's shell must not leak into a run in the copy.
SETTINGS = ("AWS_ENDPOINT_URL", "ENVIRONMENTS", "IMAGE_TAG", "SERVICE_STOPPED", "STOCK_SYNTH", "CDKTF_OUTDIR")


def repository_copy(tmp_path: Path) -> Path:
    """The repository's own files (tracked and new, not ignored: no venv, node_modules or cdktf.out)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    project = tmp_path / "project"
    for name in filter(None, listed):
        if (ROOT / name).is_file():  # a file deleted but not yet committed is still listed
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, project / name)
    return project


def _segment(source: str, node: ast.AST) -> tuple[int, int]:
    """Character offsets of `node` in `source`."""
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts[node.lineno - 1] + node.col_offset, starts[node.end_lineno - 1] + node.end_col_offset


def _keyword(call: ast.AST, name: str) -> ast.keyword:
    found = [k for k in getattr(call, "keywords", []) if k.arg == name]
    assert len(found) == 1, f"the first entry of ENVIRONMENTS sets no `{name}=`: the test cannot copy it"
    return found[0]


def free_vpc_range(taken: list[str], prefixlen: int) -> str:
    """A private range of `prefixlen` that overlaps none of `taken`."""
    used = [ipaddress.ip_network(cidr) for cidr in taken]
    for candidate in ipaddress.ip_network("10.0.0.0/8").subnets(new_prefix=prefixlen):
        if not any(candidate.overlaps(u) for u in used):
            return str(candidate)
    raise AssertionError(f"no free /{prefixlen} in 10.0.0.0/8 next to {taken}")


def environments_dict(source: str) -> ast.Dict:
    """The `ENVIRONMENTS = {...}` literal of infra/environments.py."""
    (assignment,) = [node for node in ast.parse(source).body
                     if isinstance(node, (ast.Assign, ast.AnnAssign))
                     and "ENVIRONMENTS" in [getattr(t, "id", None) for t in
                                            (node.targets if isinstance(node, ast.Assign) else [node.target])]]
    entries = assignment.value
    assert isinstance(entries, ast.Dict) and entries.values, "ENVIRONMENTS is not a dict literal with entries"
    return entries


def rename_environments(environments_py: Path, names: dict[str, str]) -> None:
    """Give each entry of ENVIRONMENTS another name: its key and its `name=`, nothing else."""
    source = environments_py.read_text()
    entries = environments_dict(source)
    edits = []
    for key, value in zip(entries.keys, entries.values):
        edits += [(_segment(source, key), json.dumps(names[key.value])),
                  (_segment(source, _keyword(value, "name").value), json.dumps(names[key.value]))]
    for (a, b), text in sorted(edits, reverse=True):
        source = source[:a] + text + source[b:]
    environments_py.write_text(source)


def remove_last_environment(environments_py: Path) -> None:
    """Delete the last entry of ENVIRONMENTS (with the comments above it), nothing else."""
    source = environments_py.read_text()
    entries = environments_dict(source)
    after_previous = source.index(",", _segment(source, entries.values[-2])[1]) + 1
    end = _segment(source, entries.values[-1])[1]
    end += source[end] == ","
    environments_py.write_text(source[:after_previous] + source[end:])


def add_environment_like_the_first(environments_py: Path, name: str) -> None:
    """Append one entry to ENVIRONMENTS, copied as text from the first one with another name and VPC range:
    what a user does, and the only edit."""
    source = environments_py.read_text()
    entries = environments_dict(source)
    first = entries.values[0]
    start, end = _segment(source, first)
    # Replace the name and the VPC range inside the first entry's text, last offset first.
    edits = [(_segment(source, _keyword(first, "name").value), json.dumps(name)),
             (_segment(source, _keyword(_keyword(first, "network").value, "vpc_cidr").value),
              json.dumps(free_vpc_range([e.network.vpc_cidr for e in environments.ENVIRONMENTS.values()],
                                  ipaddress.ip_network(next(iter(environments.ENVIRONMENTS.values())).network.vpc_cidr).prefixlen)))]
    entry = source[start:end]
    for (a, b), text in sorted(edits, reverse=True):
        entry = entry[:a - start] + text + entry[b - start:]
    # The new entry goes after the last one, before the dict's closing brace.
    close = _segment(source, entries)[1] - 1
    assert source[close] == "}"
    head = source[:close].rstrip()
    head += "" if head.endswith(",") else ","
    environments_py.write_text(f"{head}\n    {json.dumps(name)}: {entry},\n{source[close:]}")


def run(project: Path, *argv: str, timeout: int = 900) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in SETTINGS}
    # checkov lives in this checkout's own venv, which the copy leaves out.
    environ.setdefault("CHECKOV", str(CHECKOV))
    return subprocess.run([sys.executable, *argv], cwd=project, env=environ, capture_output=True, text=True,
                          timeout=timeout)


def passed_test_ids(junit: Path) -> list[str]:
    cases = ElementTree.parse(junit).getroot().iter("testcase")
    return [case.get("name") for case in cases if not list(case)]


def unused_name() -> str:
    return next(name for name in ("staging", "qa", "stage2", "stage3")
                if name not in environments.ENVIRONMENTS and name not in TEST_STACK_CONFIGS)


@pytest.mark.integration
def test_a_fourth_environment_needs_only_its_entry(tmp_path):
    # GIVEN a copy of the repository whose configuration has one entry more, copied from the first
    name = unused_name()
    project = repository_copy(tmp_path)
    add_environment_like_the_first(project / "infra" / "environments.py", name)
    # WHEN the unit suite runs there
    junit = tmp_path / "unit.xml"
    unit = run(project, "-m", "pytest", "-m", "not integration", "tests/infra", "-q", "-p", "no:cacheprovider",
               f"--junitxml={junit}")
    # THEN it passes, and it did test the new environment
    assert unit.returncode == 0, unit.stdout[-6000:] + unit.stderr[-3000:]
    assert [test for test in passed_test_ids(junit) if test.endswith(f"[{name}]")], \
        f"no test of the unit suite ran on {name!r}"
    # WHEN main.py synthesizes there
    synth = run(project, "main.py")
    # THEN the new stack is written next to the others
    assert synth.returncode == 0, synth.stderr[-3000:]
    stacks = sorted(p.name for p in (project / "cdktf.out" / "stacks").iterdir())
    assert stacks == sorted(["bootstrap", *environments.ENVIRONMENTS, name])
    # WHEN checkov scans every stack against the skip list
    scan = run(project, "-m", "security.scan", "cdktf.out")
    # THEN nothing fails that the skip list does not explain
    assert scan.returncode == 0, scan.stdout[-6000:] + scan.stderr[-3000:]
    assert name in scan.stdout


@pytest.mark.integration
def test_another_state_bucket_and_region_break_no_unit_test(tmp_path):
    # GIVEN a copy whose STATE_BUCKET and REGION are changed as the README says (a certificate of the
    # new region replaces the old one: a load balancer can only use its own region's)
    project = repository_copy(tmp_path)
    source = project / "infra" / "environments.py"
    text = source.read_text()
    old_region, old_bucket = environments.REGION, environments.STATE_BUCKET
    new_region = "eu-west-1" if old_region != "eu-west-1" else "eu-central-1"
    for old, new in ((f"REGION = {json.dumps(old_region)}", f"REGION = {json.dumps(new_region)}"),
                     (f"STATE_BUCKET = {json.dumps(old_bucket)}", 'STATE_BUCKET = "another-team-tfstate-bucket"')):
        assert text.count(old) == 1, f"infra/environments.py has no single line {old!r}: the test cannot edit it"
        text = text.replace(old, new)
    # Every certificate in the file is replaced by another one, of the new region.
    text, replaced = re.subn(r"arn:aws:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+",
                             f"arn:aws:acm:{new_region}:210987654321:certificate/11111111-2222-4333-8444-555555555555", text)
    assert replaced or not any(e.load_balancer.certificate_arn for e in environments.ENVIRONMENTS.values())
    source.write_text(text)
    # WHEN the unit suite runs there
    unit = run(project, "-m", "pytest", "-m", "not integration", "tests/infra", "-q", "-p", "no:cacheprovider")
    # THEN it passes
    assert unit.returncode == 0, unit.stdout[-6000:] + unit.stderr[-3000:]


@pytest.mark.integration
def test_renaming_and_removing_environments_needs_no_other_edit(tmp_path):
    # GIVEN a copy whose environments all have other names (keys and `name=` only), the last one removed
    taken = {*environments.ENVIRONMENTS, *TEST_STACK_CONFIGS}
    new_names = iter(name for name in (f"env{i}" for i in range(1, 100)) if name not in taken)
    names = {old: next(new_names) for old in environments.ENVIRONMENTS}
    project = repository_copy(tmp_path)
    rename_environments(project / "infra" / "environments.py", names)
    kept = list(names.values())
    if len(kept) > 1:
        remove_last_environment(project / "infra" / "environments.py")
        kept.pop()
    # WHEN the unit suite runs there
    junit = tmp_path / "unit.xml"
    unit = run(project, "-m", "pytest", "-m", "not integration", "tests/infra", "-q", "-p", "no:cacheprovider",
               f"--junitxml={junit}")
    # THEN it passes, on the new names only
    assert unit.returncode == 0, unit.stdout[-6000:] + unit.stderr[-3000:]
    tested = {test.rsplit("[", 1)[-1].rstrip("]") for test in passed_test_ids(junit)}
    assert set(kept) <= tested and not (tested & set(environments.ENVIRONMENTS) - set(kept))
