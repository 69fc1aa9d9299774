"""Synthesize every stack into cdktf.out/: the state bootstrap stack and one stack per environment.

    python main.py                        all stacks
    ENVIRONMENTS=dev python main.py       bootstrap + the named environments
    IMAGE_TAG=1.4.2 python main.py        deploy that image tag (or sha256: digest)

Output is written to a staging folder and moved into place only when synthesis succeeds, so a
failed run leaves the previous cdktf.out as it was and never a half-written one.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from pathlib import Path

from infra.config import ConfigError, EnvironmentConfig
from infra import environments


def configured_environments() -> list[EnvironmentConfig]:
    chosen = environments.select(os.environ.get("ENVIRONMENTS"))
    tag = os.environ.get("IMAGE_TAG")
    if tag:
        chosen = [dataclasses.replace(env, service=dataclasses.replace(env.service, image_tag=tag)) for env in chosen]
    return chosen


def synthesize(outdir: Path, envs: list[EnvironmentConfig]) -> list[str]:
    from cdktf import App
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
    try:
        envs = configured_environments()
    except ConfigError as exc:
        print(f"error: invalid configuration: {exc}\nnothing was written; fix infra/environments.py and run again",
              file=sys.stderr)
        return 2
    final = Path(os.environ.get("CDKTF_OUTDIR", "cdktf.out")).resolve()
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
