"""`python -m release COMMAND --env ENV`: see release/__init__.py. Exit 0 done, 1 a step failed, 2 refused."""
from __future__ import annotations

import argparse
import os
import sys
import time
import urllib.parse
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from local import EMULATOR_BOTO, WORKDIR
from local.progress import say
from release import flow, outputs as stack_outputs
from release.history import History
from release.model import BadInput, Image, ReleaseError
from image.build import ImageError
from image.tag import ROOT, TagError, commit_tag

# AWS's error codes for a session that ended (STS credentials past their expiry; a request signed too long ago).
EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})

COMMANDS = ("push", "migrate", "deploy", "release", "rollback")


def known_environments() -> dict:
    from infra import environments

    return environments.ENVIRONMENTS


def _client_factory(endpoint: str | None, region: str | None, **credentials: str):
    import boto3

    session = boto3.session.Session(region_name=region, **credentials)
    return lambda service: session.client(service, endpoint_url=endpoint)


def _is_loopback(url: str | None) -> bool:
    return bool(url) and urllib.parse.urlparse(url).hostname in ("127.0.0.1", "localhost")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m release", description="Push, migrate, deploy, verify, roll back.")
    p.add_argument("command", choices=COMMANDS)
    p.add_argument("--env", required=True, help="the environment (a key of ENVIRONMENTS in infra/environments.py)")
    p.add_argument("--outputs", type=Path, help="the stack's outputs as JSON (`terraform output -json`); "
                   "default: ask Terraform in cdktf.out/stacks/ENV")
    p.add_argument("--allow-dirty", action="store_true", help="push from a tree with uncommitted changes (dev only)")
    p.add_argument("--tag", help="deploy: an image tag pushed earlier (default: the last one pushed)")
    p.add_argument("--registry", help="push to this host:port instead of ECR (the local registry, with the emulator)")
    p.add_argument("--history", type=Path, default=ROOT / ".release",
                   help="where pushes and deploys are recorded (with --local: <workdir>/releases)")
    p.add_argument("--poll", type=float, help=f"seconds between status checks (default {flow.Timing.poll:.0f}, "
                   "1 with --local)")
    p.add_argument("--local", action="store_true",
                   help="release to the system `make demo` runs on this machine (emulator, registry, runner)")
    p.add_argument("--workdir", type=Path, default=WORKDIR,
                   help="with --local: the work folder of `make demo` (default .local-deploy)")
    return p


def _tagged(tag: str, history: History, target) -> Image:
    """The image pushed under `tag`: from this machine's history, else from the repository itself."""
    try:
        return history.pushed(tag)
    except BadInput:
        found = target.find_image(tag)
        if found is None:
            raise BadInput(f"no image is tagged {tag} in {target.outputs.repository_url} (nor in {history.path}): "
                           "give a tag that `python -m release push` pushed (a short commit)") from None
        return found


def run(args: argparse.Namespace, target_factory=None) -> None:
    environments = known_environments()
    if args.env not in environments:
        raise BadInput(f"unknown environment {args.env!r}: use one of {', '.join(environments)} "
                       "(infra/environments.py)")
    if args.local:
        target = _local_target(args, environments[args.env].region)
        # Its own record: a local release must never become what `rollback` of the AWS environment returns to.
        history = History(args.workdir / "releases", args.env)
        return _steps(args, target, history, flow.Timing(poll=args.poll or 1.0))
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    if _is_loopback(endpoint) and args.command in ("push", "release") and not args.registry:
        raise BadInput("AWS_ENDPOINT_URL is a local emulator, which serves no registry: pass --registry "
                       "127.0.0.1:PORT (the local registry, `python -m image.registry start`)")
    needed = stack_outputs_needed(args)
    outs = (stack_outputs.from_file(args.outputs, needed) if args.outputs
            else stack_outputs.from_terraform(ROOT / "cdktf.out" / "stacks" / args.env, needed))
    history = History(args.history, args.env)
    if target_factory is None:
        from release.aws import AwsTarget, buildah_pusher

        stack_dir = ROOT / "cdktf.out" / "stacks" / args.env
        reread = ((lambda: stack_outputs.from_file(args.outputs, stack_outputs.DEPLOYED)) if args.outputs
                  else (lambda: stack_outputs.from_terraform(stack_dir, stack_outputs.DEPLOYED)))
        # The environment's own region: its cluster and repository live there, whatever the shell's default.
        region = environments[args.env].region
        target = AwsTarget(environment=args.env, outputs=outs, client=_client_factory(endpoint, region),
                           reread_outputs=reread,
                           pusher=buildah_pusher(registry_tls=not args.registry), registry=args.registry)
    else:
        target = target_factory(args.env, outs)
    _steps(args, target, history, flow.Timing(poll=args.poll or flow.Timing.poll))


def _local_target(args: argparse.Namespace, region: str):
    from release.aws import AwsTarget, buildah_pusher
    from release.local import LocalTarget, running_system, terraform_applier
    from release.local import stack_outputs as demo_outputs

    system = running_system(args.workdir)
    if system["region"] != region:
        raise BadInput(f"the local system in {args.workdir} runs a service of region {system['region']}, not "
                       f"{args.env}'s {region}: give the environment `make demo` deployed")
    endpoint = system["endpoint"]
    outs = demo_outputs(args.workdir, endpoint, args.env, stack_outputs_needed(args))
    if outs.service and outs.service != system["service"]:
        raise BadInput(f"the local system in {args.workdir} runs {system['service']}, not {args.env}'s "
                       f"{outs.service}: give the environment `make demo` deployed")
    # The emulator's APIs, with its fake credentials: never the shell's AWS profile.
    client = _client_factory(endpoint, region, **EMULATOR_BOTO)
    control = AwsTarget(environment=args.env, outputs=outs, client=client,
                        pusher=buildah_pusher(registry_tls=False), applier=terraform_applier(args.workdir, endpoint),
                        registry=system["registry"],
                        reread_outputs=lambda: demo_outputs(args.workdir, endpoint, args.env, stack_outputs.DEPLOYED))
    return LocalTarget(control=control, workdir=args.workdir)


def stack_outputs_needed(args: argparse.Namespace) -> tuple[str, ...]:
    return stack_outputs.NEEDED_BY["deploy --tag" if args.command == "deploy" and args.tag else args.command]


def _steps(args: argparse.Namespace, target, history: History, timing: flow.Timing) -> None:
    image: Image | None = None
    if args.command in ("push", "release"):
        try:
            tag = commit_tag(ROOT, allow_dirty=args.allow_dirty)
        except TagError as error:
            raise BadInput(str(error)) from None
        image = target.push(tag)
        history.record_pushed(image)
        say(f"==> pushed {image.pinned} (tag {image.tag}); next: python -m release migrate "
                 f"{'--local ' if args.local else ''}--env {args.env}")
    elif args.command in ("migrate", "deploy"):
        image = history.last_pushed() if not args.tag else _tagged(args.tag, history, target)
    if args.command in ("migrate", "release"):
        flow.migrate(target, image, timing)
    if args.command in ("deploy", "release"):
        flow.deploy(target, image, history, timing)
    if args.command == "rollback":
        flow.rollback(target, history, timing)


def main(argv: list[str] | None = None, target_factory=None) -> int:
    args = parser().parse_args(argv)
    started = time.monotonic()
    try:
        run(args, target_factory)
    except ReleaseError as error:
        state = "something was changed" if error.changed else "nothing was changed"
        print(f"error: {args.command} {args.env}: {error}\n({state})", file=sys.stderr, flush=True)
        return error.exit_code
    except ImageError as error:
        # Building or pushing the image (buildah, debootstrap, the registry): its own words, nothing deployed.
        print(f"error: {args.command} {args.env}: the image could not be built or pushed: {error}\n(nothing was "
              "deployed; fix the cause and run the same command again)", file=sys.stderr, flush=True)
        return 1
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in EXPIRED:
            return _refused(args, error)
        # Not "refused": the session ended mid-command (infra/config.py CiConfig.session_hours), so say what was
        # under way; the step that had started may go on at AWS without anyone watching it.
        print(f"error: {args.command} {args.env}: the AWS credentials expired {time.monotonic() - started:.0f} s into "
              f"the {args.command} ({error}); the lines above say which step had started, and it may still be "
              "running on AWS. Get fresh credentials (CI: re-run the job; its role's session lasts "
              "bootstrap.ci.session_hours) and run the same command again", file=sys.stderr, flush=True)
        return 1
    except BotoCoreError as error:
        return _refused(args, error)
    say(f"==> {args.command} {args.env}: done in {time.monotonic() - started:.0f} s")
    return 0


def _refused(args: argparse.Namespace, error: Exception) -> int:
    # Credentials, permissions, throttling: AWS's own words, and where the release stopped is above.
    print(f"error: {args.command} {args.env}: AWS refused or could not be reached: {error}\nCheck the "
          "credentials (`aws sts get-caller-identity`) and the role's permissions, then run the same "
          "command again; the lines above say which step had started", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
