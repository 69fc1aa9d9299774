"""Synthesize every stack into cdktf.out/: the state bootstrap stack and one stack per environment.

    python main.py                        all stacks
    ENVIRONMENTS=dev python main.py       bootstrap + the named environments
    IMAGE_TAG=1.4.2 python main.py        deploy that image tag (or sha256: digest)
    CERTIFICATE_ARN=arn:... python main.py
                                          that ACM certificate on the HTTPS listener of every chosen environment
                                          that has one: what `make demo` sets for the self-signed certificate it
                                          imports into the emulator (local/certificate.py)
    SERVICE_STOPPED=1 python main.py      the service with no task and no autoscaling: what `python -m release`
                                          applies first in an environment that has no service yet, so that no
                                          task starts before the first migration has made the schema

Output is written to a staging folder and moved into place only when synthesis succeeds, so a
failed run leaves the previous cdktf.out as it was and never a half-written one.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import shutil
import sys
import time
import traceback
import warnings
from pathlib import Path

# What `import infra...` needs; the system interpreter usually has none of it.
REQUIRED_PACKAGES = ("cdktf", "cdktf_cdktf_provider_aws", "pydantic", "botocore")


def interpreter_problem() -> str | None:
    """One line saying how to run this, when this interpreter lacks the project's packages."""
    missing = [name for name in REQUIRED_PACKAGES if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return (f"error: {sys.executable} does not have this project's packages ({', '.join(missing)}): "
            "run `make synth`, or `.venv/bin/python main.py` once `make setup` has installed them")


if __name__ == "__main__" and (problem := interpreter_problem()):
    print(problem, file=sys.stderr)
    raise SystemExit(2)

from infra.config import ConfigError, ConfigWarning, EnvironmentConfig, check_environments, select  # noqa: E402

# jsii prints a 12-line end-of-life banner for Node 20 on every run, which `cdktf` relays as [ERROR] lines.
# cdktf 0.21 is the last release and runs on Node 20 knowingly; set here, before the jsii kernel starts,
# so that every path (`make synth`, `python main.py`, `npx cdktf ...`) is quiet. Other Node versions still warn.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

ENVIRONMENTS_FILE = Path(__file__).resolve().parent / "infra" / "environments.py"


class InvalidConfiguration(Exception):
    """A bad setting, with what to fix: the file or the variable it came from."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


@contextlib.contextmanager
def _source(name: str, *, any_error: bool = False):
    """Turn a ConfigError (or, for the user's own Python file, any error in it) into InvalidConfiguration."""
    try:
        yield
    except ConfigError as exc:
        raise InvalidConfiguration(str(exc), _where(name, exc)) from None
    except Exception as exc:
        if not any_error:
            raise
        line = _where(name, exc)
        raise InvalidConfiguration(f"{line}: {type(exc).__name__}: {exc}", line) from None


def _where(name: str, exc: BaseException) -> str:
    """`name`, with the line of the user's file where the error arose when it came from there."""
    if isinstance(exc, SyntaxError) and exc.filename and Path(exc.filename).resolve() == ENVIRONMENTS_FILE:
        return f"{name}, line {exc.lineno}"
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__)
             if Path(frame.filename).resolve() == ENVIRONMENTS_FILE]
    return f"{name}, line {lines[-1]}" if lines else name


def configured_environments() -> list[EnvironmentConfig]:
    """The environments to synthesize, or InvalidConfiguration naming the file or variable to fix."""
    with _source("infra/environments.py", any_error=True):
        # Imported here, not at the top: a mistake in the file a user edits ends like any other bad setting.
        from infra import environments
        check_environments(environments.ENVIRONMENTS)
    with _source("the ENVIRONMENTS variable"):
        chosen = select(environments.ENVIRONMENTS, os.environ.get("ENVIRONMENTS"))
    tag = os.environ.get("IMAGE_TAG")
    if tag:
        with _source("the IMAGE_TAG variable"):
            chosen = [dataclasses.replace(env, service=dataclasses.replace(env.service, image_tag=tag))
                      for env in chosen]
    certificate = os.environ.get("CERTIFICATE_ARN")
    if certificate:
        with _source("the CERTIFICATE_ARN variable"):
            chosen = [dataclasses.replace(env, load_balancer=dataclasses.replace(env.load_balancer,
                                                                                 certificate_arn=certificate))
                      if env.load_balancer.certificate_arn else env for env in chosen]
    stopped = os.environ.get("SERVICE_STOPPED")
    if stopped:
        if stopped != "1":
            raise InvalidConfiguration(f"SERVICE_STOPPED={stopped[:40]!r} is not allowed: set 1 (the service with 0 "
                                       "tasks and no autoscaling) or leave it unset", "the SERVICE_STOPPED variable")
        chosen = [dataclasses.replace(env, service=dataclasses.replace(env.service, desired_count=0, autoscaling=None))
                  for env in chosen]
    return chosen


def synthesize(outdir: Path, envs: list[EnvironmentConfig]) -> list[str]:
    from cdktf import App
    from infra import environments
    from infra.stacks import build

    app = App(outdir=str(outdir))
    # The AWS SDKs' standard override: set only to deploy onto a local emulator.
    stacks = build(app, environments.BOOTSTRAP, envs, endpoint=os.environ.get("AWS_ENDPOINT_URL") or None)
    app.synth()
    return stacks


def replace_dir(staging: Path, final: Path) -> None:
    """Swap the new output into place; the old one is removed only after the new one is there."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def main() -> int:
    started = time.monotonic()
    final = Path(os.environ.get("CDKTF_OUTDIR", "cdktf.out")).resolve()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConfigWarning)
            envs = configured_environments()
    except InvalidConfiguration as exc:
        print(f"error: invalid configuration: {exc}\nnothing was written (the previous {final.name} is unchanged); "
              f"fix {exc.fix} and run again", file=sys.stderr)
        return 2
    for warning in caught:
        if issubclass(warning.category, ConfigWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    staging = final.with_name(f".{final.name}.staging-{os.getpid()}")
    final.parent.mkdir(parents=True, exist_ok=True)
    print(f"synthesizing bootstrap + {', '.join(e.name for e in envs)} ...", flush=True)
    try:
        stacks = synthesize(staging, envs)
        replace_dir(staging, final)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        # A policy violation crosses the jsii boundary as a RuntimeError carrying the Aspect's message.
        from infra.policy import VIOLATION
        if isinstance(exc, Exception) and VIOLATION in str(exc):
            message = str(exc)[str(exc).index("stack "):]
            print(f"error: {message}\nnothing was written; the previous {final.name} is unchanged", file=sys.stderr)
            return 1
        raise
    print(f"wrote {len(stacks)} stacks ({', '.join(stacks)}) to {final} in {time.monotonic() - started:.1f} s",
          flush=True)
    return 0


if __name__ == "__main__":
    from infra import fast_synth

    fast_synth.skip_provider_index()
    fast_synth.exit_now(main())
