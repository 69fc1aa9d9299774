"""`python -m release COMMAND --env ENV`: see release/__init__.py. Exit 0 done, 1 a step failed, 2 refused."""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from local import EMULATOR_BOTO, WORKDIR
from local.progress import say
from release import flow, outputs as stack_outputs
from release.model import BadInput, Image, ReleaseError
from image import archive as archives
from image.build import ImageError, ImageSettings, build
from image.tag import ROOT, TagError, commit_tag

# AWS's error codes for a session that ended (STS credentials past their expiry; a request signed too long ago).
EXPIRED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired"})

COMMANDS = ("build", "push", "migrate", "deploy", "promote", "release", "rollback", "status")
DEFAULT_ARCHIVE = ROOT / ".release" / "image.tar"
# ECR's image tag rule (as infra/config.py's service.image_tag), and a manifest digest.
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
# Which command takes which option (the others refuse it rather than ignore it).
ONLY_FOR = {"image": ("push", "migrate", "deploy", "promote"), "output": ("build",), "to": ("rollback",),
            "tag": ("migrate", "deploy"), "skip_gate": ("migrate", "promote", "release")}


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
    p = argparse.ArgumentParser(prog="python -m release", description="Build once; push, migrate, deploy, verify, "
                                "roll back each environment.")
    p.add_argument("command", choices=COMMANDS)
    p.add_argument("--env", help="the environment (a key of ENVIRONMENTS in infra/environments.py); every command "
                   "but build")
    p.add_argument("--image", type=Path, help="the image archive `build` wrote: push/promote copy exactly it, "
                   "migrate/deploy use its digest (default for build's --output)")
    p.add_argument("--output", type=Path,
                   help=f"build: where to write the image archive (default {DEFAULT_ARCHIVE.relative_to(ROOT)})")
    p.add_argument("--outputs", type=Path, help="the stack's outputs as JSON (`terraform output -json`); "
                   "default: ask Terraform in cdktf.out/stacks/ENV")
    p.add_argument("--allow-dirty", action="store_true", help="build from a tree with uncommitted changes (dev only)")
    p.add_argument("--tag", help="migrate/deploy: an image tag in the repository (default: this checkout's commit)")
    p.add_argument("--to", help="rollback: the tag or sha256 digest to go back to (default: the image the service "
                   "ran before the current one, read from ECS)")
    p.add_argument("--skip-gate", action="store_true", default=None,
                   help="migrate/promote/release without the compatibility gate, where it cannot run (it needs root, "
                        "podman and PostgreSQL): nothing then checks that the running release works on the new schema")
    p.add_argument("--registry", help="push to this host:port instead of ECR (the local registry, with the emulator)")
    p.add_argument("--poll", type=float, help=f"seconds between status checks (default {flow.Timing.poll:.0f}, "
                   "1 with --local)")
    p.add_argument("--local", action="store_true",
                   help="release to the system `make demo` runs on this machine (emulator, registry, runner)")
    p.add_argument("--workdir", type=Path, default=WORKDIR,
                   help="with --local: the work folder of `make demo` (default .local-deploy)")
    return p


def _tag(args: argparse.Namespace) -> str:
    try:
        return commit_tag(ROOT, allow_dirty=args.allow_dirty)
    except TagError as error:
        raise BadInput(str(error)) from None


def _archive(path: Path) -> archives.Archive:
    try:
        return archives.read(path)
    except ImageError as error:
        raise BadInput(str(error)) from None


def _build(args: argparse.Namespace, output: Path) -> archives.Archive:
    """Build app/ under this checkout's commit tag and write the archive (the only step that may need root)."""
    built = build(ImageSettings(tag=_tag(args)))
    archive = archives.export(built, output)
    say(f"==> built {archive.tag}: {archive.digest} in {archive.path}")
    return archive


def _check_options(args: argparse.Namespace) -> None:
    for option, commands in ONLY_FOR.items():
        if getattr(args, option) is not None and args.command not in commands:
            raise BadInput(f"--{option.replace('_', '-')} is for {' and '.join(commands)}, not {args.command}")
    if args.tag is not None and not TAG.fullmatch(args.tag):
        raise BadInput(f"--tag {args.tag!r} is not an image tag: 1-128 of A-Z a-z 0-9 _ . -, not starting with . or -")
    if args.to is not None and not (TAG.fullmatch(args.to) or DIGEST.fullmatch(args.to)):
        raise BadInput(f"--to {args.to!r} is neither an image tag (1-128 of A-Z a-z 0-9 _ . -) nor a digest "
                       "(sha256: and 64 of 0-9 a-f)")
    if args.command == "build":
        args.output = args.output or DEFAULT_ARCHIVE
        if args.output.is_dir():
            raise BadInput(f"--output {args.output} is a folder: give the archive's file name (e.g. {args.output}/image.tar)")


def run(args: argparse.Namespace, target_factory=None) -> None:
    _check_options(args)
    if args.command == "build":
        if args.env or args.local:
            raise BadInput("build makes one image for every environment: leave --env and --local out")
        _build(args, args.output)
        say(f"==> next: python -m release promote --env ENV --image {args.output}")
        return
    environments = known_environments()
    if args.env not in environments:
        raise BadInput(f"unknown environment {args.env!r}: use one of {', '.join(environments)} "
                       "(infra/environments.py)")
    archive = _archive(args.image) if args.image else None
    if args.command == "promote" and archive is None:
        raise BadInput("promote copies a built image: give --image FILE (`python -m release build --output FILE`)")
    if args.local:
        target = _local_target(args, environments[args.env].region)
        return _steps(args, target, archive, flow.Timing(poll=args.poll or 1.0))
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    if _is_loopback(endpoint) and args.command in ("push", "promote", "release") and not args.registry:
        raise BadInput("AWS_ENDPOINT_URL is a local emulator, which serves no registry: pass --registry "
                       "127.0.0.1:PORT (the local registry, `python -m image.registry start`)")
    needed, from_nothing = stack_outputs.NEEDED_BY[args.command], args.command in stack_outputs.FROM_NOTHING
    outs = (stack_outputs.from_file(args.outputs, needed, from_nothing) if args.outputs
            else stack_outputs.from_terraform(ROOT / "cdktf.out" / "stacks" / args.env, needed, from_nothing=from_nothing))
    if target_factory is None:
        from release.aws import AwsTarget, PodmanGate, skopeo_pusher

        stack_dir = ROOT / "cdktf.out" / "stacks" / args.env
        reread = ((lambda: stack_outputs.from_file(args.outputs, stack_outputs.NEEDED)) if args.outputs
                  else (lambda: stack_outputs.from_terraform(stack_dir, stack_outputs.NEEDED)))
        config = environments[args.env]
        # The environment's own region: its cluster and repository live there, whatever the shell's default.
        target = AwsTarget(environment=args.env, outputs=outs, client=_client_factory(endpoint, config.region),
                           reread_outputs=reread, domain=config.load_balancer.domain_name,
                           least_tasks=config.service.least_tasks, gate=PodmanGate(registry_tls=not args.registry),
                           pusher=skopeo_pusher(registry_tls=not args.registry), registry=args.registry)
    else:
        target = target_factory(args.env, outs)
    _steps(args, target, archive, flow.Timing(poll=args.poll or flow.Timing.poll))


def _local_target(args: argparse.Namespace, region: str):
    from release.aws import AwsTarget, skopeo_pusher
    from release.local import LocalTarget, running_system, terraform_applier
    from release.local import stack_outputs as demo_outputs

    system = running_system(args.workdir)
    if system["region"] != region:
        raise BadInput(f"the local system in {args.workdir} runs a service of region {system['region']}, not "
                       f"{args.env}'s {region}: give the environment `make demo` deployed")
    endpoint = system["endpoint"]
    outs = demo_outputs(args.workdir, endpoint, args.env, stack_outputs.NEEDED_BY[args.command])
    if outs.service and outs.service != system["service"]:
        raise BadInput(f"the local system in {args.workdir} runs {system['service']}, not {args.env}'s "
                       f"{outs.service}: give the environment `make demo` deployed")
    # The emulator's APIs, with its fake credentials: never the shell's AWS profile.
    client = _client_factory(endpoint, region, **EMULATOR_BOTO)
    config = known_environments()[args.env]
    control = AwsTarget(environment=args.env, outputs=outs, client=client, least_tasks=config.service.least_tasks,
                        domain=config.load_balancer.domain_name,
                        pusher=skopeo_pusher(registry_tls=False), applier=terraform_applier(args.workdir, endpoint),
                        registry=system["registry"],
                        reread_outputs=lambda: demo_outputs(args.workdir, endpoint, args.env, stack_outputs.NEEDED))
    return LocalTarget(control=control, workdir=args.workdir)


def _wanted(args: argparse.Namespace, target, archive: archives.Archive | None) -> Image:
    """migrate/deploy: the image of --tag, of --image, or of this checkout's commit, as the repository holds it."""
    tag = args.tag or (archive.tag if archive else _tag(args))
    image = target.find_image(tag)
    if image is None:
        raise BadInput(f"no image is tagged {tag} in {target.outputs.repository_url}: push it first "
                       f"(`python -m release push {target.selector}`{' --image ' + str(args.image) if archive else ''})")
    if archive is not None and image.digest != archive.digest:
        raise BadInput(f"{tag} in {target.outputs.repository_url} is {image.digest}, not the archive's {archive.digest}")
    return image


def _pushed(args: argparse.Namespace, target, archive: archives.Archive | None) -> Image:
    """The archive copied into the repository; without one, this commit's image, built only when the repository
    does not hold it yet (a re-run after a later step failed reuses it)."""
    if archive is None:
        tag = _tag(args)
        held = target.find_image(tag)
        if held is not None:
            say(f"==> {target.outputs.repository_name}:{tag} is already pushed ({held.digest}): reusing it, not "
                "building again")
            return held
        with tempfile.TemporaryDirectory(prefix="release-image-") as folder:
            built = _build(args, Path(folder) / "image.tar")
            return target.push(built)
    return target.push(archive)


def _created(args: argparse.Namespace, target, archive: archives.Archive | None) -> Image:
    """From nothing: the archive (`release` builds it first), the stack with the service at 0 tasks, the push."""
    if archive is not None:
        flow.create(target, archive)
        return target.push(archive)
    with tempfile.TemporaryDirectory(prefix="release-image-") as folder:
        built = _build(args, Path(folder) / "image.tar")
        flow.create(target, built)
        return target.push(built)


def _steps(args: argparse.Namespace, target, archive: archives.Archive | None, timing: flow.Timing) -> None:
    command = args.command
    if command == "status":
        return _status(target)
    if command == "rollback":
        flow.rollback(target, args.to, timing)
        return
    first = command in stack_outputs.FROM_NOTHING and not target.outputs.exists
    gating = command in ("migrate", "promote", "release") and not first  # a first release has nothing running
    if gating and not args.skip_gate and (why := target.gate_missing()) and _gate_needed(target, archive):
        raise BadInput(f"the compatibility gate cannot run here: {why}. It checks, before the migration, that the "
                       "running release still works on the schema this one makes. Run the release where it can (the "
                       "release workflow does), or pass --skip-gate to release without it, knowingly")
    if command in ("push", "promote", "release"):
        image = (_created if first else _pushed)(args, target, archive)
        say(f"==> {image.pinned} (tag {image.tag}) is in {target.outputs.repository_name}")
    else:
        image = _wanted(args, target, archive)
    if command in ("migrate", "promote", "release"):
        flow.gate(target, image, skip=bool(args.skip_gate))
        flow.migrate(target, image, timing)
    if command in ("deploy", "promote", "release"):
        flow.deploy(target, image, timing)
        flow.verify(target, image, timing)


def _gate_needed(target, archive: archives.Archive | None) -> bool:
    """Whether a release runs another image than the one given (or one to build): what the gate would check."""
    running = target.running_image()
    return running is not None and (archive is None or running.digest != archive.digest)


def _status(target) -> None:
    """What runs and what ran, from ECS: the service's revisions and the images they pin, newest first."""
    for position, item in enumerate(target.releases()):
        held = target.image_by_digest(item.digest) if item.digest else None
        where = ("running" if position == 0 else "earlier") + (f"  verified {item.verified}" if item.verified
                                                                 else "  never verified")
        tag = f"tag {held.tag}" if held and held.tag else ("not in the repository" if item.digest and not held else "")
        print(f"{where}  {item.task_definition.rsplit('/', 1)[-1]}  {item.digest or item.image}  {tag}".rstrip())


def _what(args: argparse.Namespace) -> str:
    return f"{args.command} {args.env}" if args.env else args.command


def main(argv: list[str] | None = None, target_factory=None) -> int:
    args = parser().parse_args(argv)
    started = time.monotonic()
    try:
        run(args, target_factory)
    except ReleaseError as error:
        state = "something was changed" if error.changed else "nothing was changed"
        print(f"error: {_what(args)}: {error}\n({state})", file=sys.stderr, flush=True)
        return error.exit_code
    except ImageError as error:
        # Building or pushing the image (buildah, debootstrap, the registry): its own words, nothing deployed.
        print(f"error: {_what(args)}: the image could not be built or pushed: {error}\n(nothing was "
              "deployed; fix the cause and run the same command again)", file=sys.stderr, flush=True)
        return 1
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in EXPIRED:
            return _refused(args, error)
        # Not "refused": the session ended mid-command (infra/config.py CiConfig.session_hours), so say what was
        # under way; the step that had started may go on at AWS without anyone watching it.
        print(f"error: {_what(args)}: the AWS credentials expired {time.monotonic() - started:.0f} s into "
              f"the {args.command} ({error}); the lines above say which step had started, and it may still be "
              "running on AWS. Get fresh credentials (CI: re-run the job; its role's session lasts "
              "bootstrap.ci.session_hours) and run the same command again", file=sys.stderr, flush=True)
        return 1
    except BotoCoreError as error:
        return _refused(args, error)
    say(f"==> {_what(args)}: done in {time.monotonic() - started:.0f} s")
    return 0


def _refused(args: argparse.Namespace, error: Exception) -> int:
    # Credentials, permissions, throttling: AWS's own words, and where the release stopped is above.
    print(f"error: {_what(args)}: AWS refused or could not be reached: {error}\nCheck the "
          "credentials (`aws sts get-caller-identity`) and the role's permissions, then run the same "
          "command again; the lines above say which step had started", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
