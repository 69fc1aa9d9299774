"""Find drift in one deployed environment and file it as one GitHub issue: resources changed or deleted outside
Terraform since the last apply (a console edit, a script, another tool).

    .venv/bin/python -m tools.drift --stack-dir cdktf.out/stacks/dev --environment dev
        exit 0  no drift (nothing filed)
        exit 2  drift: the report is printed, written to $GITHUB_STEP_SUMMARY and filed as the issue `Drift in dev`
        exit 1  an error (Terraform failed, or GitHub refused the issue): the message says what to do

The stack folder must be synthesized and `terraform init`-ed. The drift workflow (.github/workflows/drift.yml)
runs this daily per environment with the read-only plan role.

How drift is found. `terraform plan -refresh-only -lock=false -detailed-exitcode -out=PLAN` reads every resource
and compares it with the state, and proposes nothing else; `-detailed-exitcode` makes it exit 0 when nothing
differs, 1 on an error, 2 when there are differences (developer.hashicorp.com/terraform/cli/commands/plan).
`terraform show -json PLAN` then lists them in `resource_drift`, the JSON plan's changes detected outside
Terraform (developer.hashicorp.com/terraform/internals/json-format): per resource, its address, the actions
(`update`, `delete`) and the object `before` (the state) and `after` (as read now); the attributes whose values
differ are the drift.
A normal plan would read the same `resource_drift`, but its exit code 2 also means "the configuration is not
applied yet": this repository synthesizes the image tag of the last release only when releasing (IMAGE_TAG),
so a normal plan from a fresh synth shows a task definition change every day; refresh-only ignores the
configuration's values. `-lock=false`: the plan role may read the state, not write its lock.

What is not drift, although refresh-only reports it (so the exit code here comes from the attributes, not from
Terraform's 2 alone): an attribute the configuration lets change outside Terraform (`lifecycle.ignore_changes`,
read from the stack's *.tf.json: the service's `desired_count` under autoscaling), and a value going between
missing and empty (`tags = null -> {}`: the AWS provider reads back `{}` for tags never set).

Values that Terraform marks sensitive are never printed (`(sensitive)`). Each value is cut at VALUE_CHARS.

GitHub: with GITHUB_TOKEN and GITHUB_REPOSITORY set (GITHUB_API_URL, default https://api.github.com), the report
becomes the body of the one open issue titled `Drift in <environment>` with the label `drift`: created when there
is none, its body replaced (PATCH) when there is (REST API, urllib). A clean run makes no GitHub call and does not
close that issue: whoever deals with the drift (undoes it, or writes it into the configuration) closes it.
Without those variables the report is only printed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, NoReturn

from tools import mirror as provider_mirror
from tools.terraform import first_error

LABEL = "drift"
DEFAULT_API = "https://api.github.com"
VALUE_CHARS = 200
BODY_CHARS = 60_000  # GitHub refuses an issue body over 65,536 characters
EMPTY: tuple[Any, ...] = (None, "", [], {})  # missing and empty are the same value here


class DriftError(Exception):
    """Terraform or GitHub failed; the message says what happened and what to do. Exit code 1."""


@dataclass(frozen=True)
class Drift:
    """One resource that differs from the state: `update` (with its attributes) or `delete` (gone)."""

    address: str
    action: str
    attributes: tuple[tuple[str, str, str], ...] = ()
    """(name, value in the state, value now), the values as short JSON or `(sensitive)`."""


def title(environment: str) -> str:
    return f"Drift in {environment}"


# -- reading the plan --------------------------------------------------------------------------------------------

def ignored_attributes(stack_dir: Path) -> dict[tuple[str, str], set[str]]:
    """`(type, name) -> top-level attributes` of every `lifecycle.ignore_changes` in the stack's *.tf.json
    (`*` for `all`)."""
    ignored: dict[tuple[str, str], set[str]] = {}
    for path in sorted(stack_dir.glob("*.tf.json")):
        for rtype, resources in json.loads(path.read_text()).get("resource", {}).items():
            for name, body in resources.items():
                lifecycle = body.get("lifecycle") or {}
                for block in lifecycle if isinstance(lifecycle, list) else [lifecycle]:
                    changes = block.get("ignore_changes") or []
                    names = {"*"} if changes == "all" or "all" in changes else {
                        re.split(r"[.\[]", str(change), maxsplit=1)[0] for change in changes}  # tags["x"] -> tags
                    ignored.setdefault((rtype, name), set()).update(names)
    return ignored


def _has_sensitive(marks: Any) -> bool:
    """True if a `*_sensitive` marker (true, or an object/list holding a true) marks any part of a value."""
    if isinstance(marks, dict):
        return any(_has_sensitive(v) for v in marks.values())
    if isinstance(marks, list):
        return any(_has_sensitive(v) for v in marks)
    return marks is True


def _shown(value: Any, marks: Any, name: str) -> str:
    """One attribute's value as short JSON; `(sensitive)` when the plan's marker covers any part of it."""
    if _has_sensitive(marks.get(name) if isinstance(marks, dict) else marks):
        return "(sensitive)"
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 1] + "…"


def drifted(plan: dict, ignored: dict[tuple[str, str], set[str]] | None = None) -> list[Drift]:
    """The drift in a `terraform show -json` plan's `resource_drift`, without what the module docstring says
    is not drift."""
    found = []
    for entry in plan.get("resource_drift") or []:
        if entry.get("mode", "managed") != "managed":
            continue
        change = entry["change"]
        actions = change.get("actions", [])
        if "delete" in actions and change.get("after") is None:
            found.append(Drift(entry["address"], "delete"))
            continue
        before, after = change.get("before") or {}, change.get("after") or {}
        skip = (ignored or {}).get((entry.get("type", ""), entry.get("name", "")), set()) \
            if "module_address" not in entry else set()
        if "*" in skip:
            continue
        attributes = []
        for name in sorted(set(before) | set(after)):
            old, new = before.get(name), after.get(name)
            if name in skip or old == new or (old in EMPTY and new in EMPTY):
                continue
            attributes.append((name, _shown(old, change.get("before_sensitive"), name),
                               _shown(new, change.get("after_sensitive"), name)))
        if attributes:
            found.append(Drift(entry["address"], "update", tuple(attributes)))
    return found


# -- the report --------------------------------------------------------------------------------------------------

def _code(text: str) -> str:
    """`text` as inline Markdown code, whatever backticks it holds."""
    if "`" not in text:
        return f"`{text}`"
    fence = "`" * (max(len(run) for run in re.findall(r"`+", text)) + 1)
    return f"{fence} {text} {fence}"


def report(environment: str, drifts: list[Drift], run_url: str | None = None) -> str:
    """The issue body (Markdown): each drifted resource, each attribute's value in the state and now, what to do."""
    lines = [f"## {title(environment)}", "",
             f"`terraform plan -refresh-only` found {len(drifts)} resource(s) in **{environment}** that no longer "
             "match the Terraform state: changed outside Terraform since the last apply.", ""]
    for drift in drifts:
        if drift.action == "delete":
            lines.append(f"- {_code(drift.address)}: deleted outside Terraform")
            continue
        lines.append(f"- {_code(drift.address)}: changed")
        lines += [f"  - {_code(name)}: {_code(old)} → {_code(new)}" for name, old, new in drift.attributes]
    checked = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines += ["", "**What to do.** Not meant: apply the configuration again (an administrator, `npx cdktf deploy "
              f"{environment}` after reviewing its plan; README, Release), which sets these back and re-creates what "
              "was deleted. Meant to stay: write the new values into the configuration (`infra/`) and apply that, or "
              "the next apply undoes them. Then close this issue.", "",
              f"Last checked {checked}" + (f" by {run_url}" if run_url else "") + ". Each run that finds drift in "
              f"{environment} replaces this text; a clean run leaves the issue as it is."]
    body = "\n".join(lines) + "\n"
    if len(body) > BODY_CHARS:
        body = body[:BODY_CHARS] + "\n\n… (cut: the whole list is in the run's log)\n"
    return body


# -- GitHub ------------------------------------------------------------------------------------------------------

class GitHub:
    """The few REST calls that file the report as one issue per environment."""

    def __init__(self, api: str, repository: str, token: str) -> None:
        self.api, self.repository, self.token = api.rstrip("/"), repository, token

    def call(self, method: str, path: str, body: dict | None = None) -> Any:
        url = f"{self.api}/repos/{self.repository}{path}"
        request = urllib.request.Request(url, method=method, data=json.dumps(body).encode() if body else None,
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Accept": "application/vnd.github+json",
                                                  "X-GitHub-Api-Version": "2022-11-28",
                                                  "User-Agent": "tools.drift", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            hint = (" The job needs `permissions: issues: write` for its GITHUB_TOKEN."
                    if exc.code in (401, 403, 404) else "")
            raise DriftError(f"GitHub answered {exc.code} to {method} {url}: {detail}.{hint}") from None
        except OSError as exc:
            raise DriftError(f"GitHub did not answer {method} {url}: {exc}. Check GITHUB_API_URL and the "
                             "network, then run the workflow again.") from None

    def file(self, issue_title: str, body: str) -> tuple[str, dict]:
        """Update the open issue with this title and the label, or create it: ("updated" | "created", issue)."""
        query = urllib.parse.urlencode({"state": "open", "labels": LABEL, "per_page": 100})
        issues = [i for i in self.call("GET", f"/issues?{query}")
                  if i.get("title") == issue_title and "pull_request" not in i]
        if issues:
            number = min(i["number"] for i in issues)
            return "updated", self.call("PATCH", f"/issues/{number}", {"body": body})
        return "created", self.call("POST", "/issues", {"title": issue_title, "body": body, "labels": [LABEL]})


# -- Terraform ---------------------------------------------------------------------------------------------------

def _errors(output: str, lines: int = 30) -> str:
    """Terraform's output from its first `Error:` on, or its last lines when there is none."""
    return first_error(output, lines, tail=lines)


def _advice(output: str, stack_dir: Path) -> str:
    if re.search(r"terraform init|Required plugins are not installed|Backend initialization required", output):
        return f"run `terraform -chdir={stack_dir} init -input=false` first, then this command again."
    if re.search(r"AccessDenied|UnauthorizedOperation|ExpiredToken|InvalidClientTokenId|No valid credential", output):
        return ("AWS refused a read: check the credentials (in CI, the plan role of AWS_PLAN_ROLE_ARN) and that the "
                "role may read every resource type of the stack (infra/ci_identity.py REFRESH_READS).")
    return "fix what Terraform says above, then run this command again."


def terraform(argv: list[str], cwd: Path, say: Callable[[str], None] | None = None) -> tuple[int, str, str]:
    """Run Terraform in `cwd`: (exit code, stdout, stderr). With `say`, its output goes to `say` line by line,
    indented, while it runs (stderr merged into stdout)."""
    env = provider_mirror.terraform_env({**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0",
                                         "CHECKPOINT_DISABLE": "1"})
    if say is None:
        done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
        return done.returncode, done.stdout, done.stderr
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = []
    for line in proc.stdout or []:
        out.append(line)
        say(f"    {line.rstrip()}")
    return proc.wait(), "".join(out), ""


def find_drift(stack_dir: Path, terraform_bin: str, say: Callable[[str], None]) -> list[Drift]:
    """Plan refresh-only in `stack_dir`, read the plan's `resource_drift`; DriftError when Terraform fails."""
    with tempfile.TemporaryDirectory(prefix="drift-") as tmp:  # a plan file holds values: never left behind
        plan_file = str(Path(tmp) / "drift.tfplan")
        started = time.monotonic()
        say(f"terraform plan -refresh-only in {stack_dir}: reads every resource of the stack, changes nothing")
        code, output, _ = terraform([terraform_bin, "plan", "-refresh-only", "-input=false", "-no-color",
                                     "-lock=false", "-detailed-exitcode", f"-out={plan_file}"], stack_dir, say)
        say(f"terraform plan exited {code} after {time.monotonic() - started:.0f} s")
        if code == 0:
            return []
        if code != 2:
            raise DriftError(f"terraform plan failed in {stack_dir} (exit {code}). Terraform said:\n"
                             f"{_errors(output)}\nWhat to do: {_advice(output, stack_dir)}")
        code, shown, errors = terraform([terraform_bin, "show", "-json", plan_file], stack_dir)
        if code != 0:
            raise DriftError(f"terraform show -json failed in {stack_dir} (exit {code}):\n{_errors(errors + shown)}")
    plan = json.loads(shown)
    drifts = drifted(plan, ignored_attributes(stack_dir))
    left_out = len(plan.get("resource_drift") or []) - len(drifts)
    if left_out:
        say(f"left out {left_out} resource(s) of Terraform's list: their only differences are attributes under "
            "lifecycle.ignore_changes or values between missing and empty (tags null -> {})")
    elif not drifts:
        say("Terraform's differences are in outputs only: not drift")
    return drifts


# -- the command -------------------------------------------------------------------------------------------------

def _run_url() -> str | None:
    server, repo, run = (os.environ.get(k) for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repo}/actions/runs/{run}" if server and repo and run else None


def _summary(text: str) -> None:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a") as summary:
            summary.write(text + "\n")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """Exit 1 on bad arguments: argparse's own 2 would read as "drift found"."""
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m tools.drift", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack-dir", required=True, type=Path, help="a synthesized, initialized stack folder "
                        "(cdktf.out/stacks/<environment>)")
    parser.add_argument("--environment", required=True, help="its environment's name (the issue's title)")
    parser.add_argument("--terraform", default="terraform", help="the Terraform binary (default: terraform on PATH)")
    args = parser.parse_args(argv)

    def say(line: str) -> None:
        print(f"[drift {args.environment}] {line}", flush=True)

    stack_dir: Path = args.stack_dir
    try:
        if not any(stack_dir.glob("*.tf.json")):
            raise DriftError(f"no Terraform configuration (*.tf.json) in {stack_dir}: synthesize it first "
                             f"(`ENVIRONMENTS={args.environment} make synth`), then `terraform -chdir={stack_dir} "
                             "init -input=false`")
        terraform_bin = shutil.which(args.terraform)
        if terraform_bin is None:
            raise DriftError(f"{args.terraform} is not on PATH: install Terraform >= 1.10 "
                             "(https://developer.hashicorp.com/terraform/install)")
        drifts = find_drift(stack_dir, terraform_bin, say)
        if not drifts:
            say("no drift")
            _summary(f"### {title(args.environment)}: none\n")
            return 0
        body = report(args.environment, drifts, _run_url())
        say(f"drift in {len(drifts)} resource(s):")
        print(body, flush=True)
        _summary(body)
        token, repository = os.environ.get("GITHUB_TOKEN"), os.environ.get("GITHUB_REPOSITORY")
        if token and repository:
            github = GitHub(os.environ.get("GITHUB_API_URL") or DEFAULT_API, repository, token)
            done, issue = github.file(title(args.environment), body)
            say(f"{done} issue #{issue.get('number')}: {issue.get('html_url', '')}")
            if LABEL not in [label.get("name") for label in issue.get("labels", [])]:
                say(f"warning: the issue has no label `{LABEL}`, so the next run will not find it: create the "
                    f"label `{LABEL}` in the repository (Issues, Labels) and add it to the issue")
        else:
            say("GITHUB_TOKEN or GITHUB_REPOSITORY not set: report printed only, no issue filed")
        return 2
    except DriftError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
