"""python -m runner up|down|migrate|status: run on this machine what the emulator says is deployed.

    up       PostgreSQL (TLS, the RDS secret's user), HAProxy (the target group and listener), the
             supervisor (background, pidfile) and the service's tasks; waits until they are healthy in
             HAProxy and prints the URL. Run again after the service changed: a rolling deploy.
    migrate  the migration task definition once, as a one-off container; exits with its exit code.
    down     stops everything `up` started in the work folder; safe to repeat.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import ssl
import subprocess
import sys
import time
from pathlib import Path

from local import WORKDIR, paths
from local.processes import free_port, port_free
from local.progress import say
from runner import deployment as deployed
from runner import tasks as podman_tasks
from runner.balancer import Balancer, BalancerError, BalancerSettings
from runner.database import Database, DatabaseError, DatabaseSettings
from runner.layout import Layout

ERRORS = (deployed.DeploymentError, podman_tasks.TaskError, DatabaseError, BalancerError, paths.PathError)


class RunnerError(Exception):
    pass


def _database(layout: Layout) -> Database:
    return Database(layout.folder / "database.json")


def _master_credentials(d: deployed.Deployment) -> tuple[str, str]:
    """The RDS-managed secret's user and password (DB_SECRET_ARN, else the first secret of the task)."""
    arn = d.task.environment.get("DB_SECRET_ARN") or (d.secret_arns[0] if d.secret_arns else None)
    if not arn:
        raise RunnerError("the task definition names no database secret (DB_SECRET_ARN or secrets)")
    values = deployed.resolve_secrets([{"name": "u", "valueFrom": f"{arn}:username::"},
                                       {"name": "p", "valueFrom": f"{arn}:password::"}], d.endpoint, d.region)
    return values["u"], values["p"]


def up(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    fresh = not (workdir.resolve() / "runner" / "runner.json").exists()
    if fresh:
        layout = Layout(workdir=workdir, network=args.network,
                        podman_storage=Path(args.podman_storage) if args.podman_storage else None)
        port = args.port or free_port()
        try:  # before anything starts: a path over a limit fails here and leaves nothing behind
            paths.check_workdir(workdir)
            _forget_legacy_runroot(layout.podman())
        except paths.PathError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    else:
        layout, saved = Layout.load(workdir)
        port = saved["port"]
    given_certificate = args.certificate if fresh else saved.get("certificate")
    started = time.monotonic()
    try:
        say(f"==> reading service {args.service} of cluster {args.cluster} from {args.endpoint}")
        d = deployed.read(args.endpoint, args.cluster, args.service, args.registry, args.region)
        if d.desired_count * d.maximum_percent // 100 > layout.slots:
            raise RunnerError(f"desired count {d.desired_count} x maximumPercent {d.maximum_percent} needs more "
                              f"than the runner's {layout.slots} task addresses")
        certificate = _listener_certificate(d, given_certificate)
        if fresh:
            # Before anything starts: a port in use fails here and leaves nothing behind.
            if not port_free("127.0.0.1", port):
                raise BalancerError(f"port {port} on 127.0.0.1 is already in use: pass another --port, "
                                    "or 0 for a free one")
            if not port_free(layout.db_address, 5432):
                raise DatabaseError(f"port 5432 on {layout.db_address} is already in use: pass another --network")
            layout.save(port=port, certificate=str(certificate) if certificate else None)
        podman = layout.podman()
        say(f"==> pulling {d.task.image}")
        podman.pull(d.task.image)
        user, password = _master_credentials(d)
        db_name = d.task.environment.get("DB_NAME", "postgres")
        say(f"==> PostgreSQL 15 (TLS only) on {layout.db_address}:5432, database {db_name}, user {user}")
        _database(layout).start(DatabaseSettings(host=layout.db_address, name=db_name, user=user, password=password))
        balancer = BalancerSettings(port=port, addresses=layout.addresses, container_port=d.container_port,
                                    health=d.health, certificate=certificate)
        say(f"==> HAProxy on {balancer.url}: {d.health.path} every {d.health.interval} s, "
            f"rise {d.health.healthy_threshold}, fall {d.health.unhealthy_threshold}, "
            f"deregistration delay {d.deregistration_delay} s")
        Balancer(layout.folder).start(balancer)
        if args.migrate:
            code = run_migration(layout, d, args)
            if code != 0:
                raise RunnerError(f"the migration task exited with code {code}: see its output above")
        generation = (layout.read(layout.desired_file, {}) or {}).get("generation", 0) + 1
        layout.write(layout.desired_file, {"generation": generation, "endpoint": args.endpoint,
                                           "cluster": args.cluster, "service": args.service,
                                           "registry": args.registry, "region": args.region})
        _start_supervisor(layout)
        say(f"==> deploying {d.task.family}:{d.task.revision}: {d.desired_count} tasks "
            f"(min {d.minimum_healthy_percent}% healthy, max {d.maximum_percent}%)")
        if args.no_wait:
            say(f"==> deployment {generation} handed to the supervisor; `python -m runner status` shows its progress")
        else:
            _wait_steady(layout, generation, args.wait)
    except ERRORS + (RunnerError,) as error:
        print(f"error: {error}", file=sys.stderr)
        if fresh:
            say("==> stopping what this run started")
            down(args, quiet=True)
        return 1
    say(f"==> up in {time.monotonic() - started:.0f} s")
    print(balancer.url)
    return 0


def _listener_certificate(d: deployed.Deployment, given: str | None) -> Path | None:
    """The PEM HAProxy serves: required when the deployed listener serves HTTPS, and then the very certificate
    ACM holds under the listener's ARN (followed by its key, which ACM never gives out); refused otherwise."""
    if d.certificate_arn is None:
        if given:
            raise RunnerError("--certificate: the service's listener serves plain HTTP, with no certificate to "
                              "stand in for; leave --certificate out")
        return None
    if not given:
        raise RunnerError(f"the service's listener serves HTTPS with the ACM certificate {d.certificate_arn}: pass "
                          "--certificate FILE, a PEM with that certificate followed by its private key "
                          "(`make demo` makes one and imports it: local/certificate.py)")
    path = Path(given).resolve()
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise RunnerError(f"--certificate {given}: cannot be read ({error})") from None
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", text, re.S)
    if not blocks or not re.search(r"-----BEGIN (?:RSA |EC )?PRIVATE KEY-----", text):
        raise RunnerError(f"--certificate {given}: needs a PEM certificate followed by its private key "
                          f"(found {len(blocks)} certificate(s) and {'a' if 'PRIVATE KEY' in text else 'no'} key)")
    if ssl.PEM_cert_to_DER_cert(blocks[0]) != ssl.PEM_cert_to_DER_cert(deployed.certificate_body(
            d.endpoint, d.certificate_arn, d.region)):
        raise RunnerError(f"--certificate {given} is not the certificate the listener names ({d.certificate_arn} "
                          "in the emulator's ACM): give the file that was imported under that ARN")
    return path


def _forget_legacy_runroot(podman: podman_tasks.Podman) -> None:
    """Storage made before the run root moved out of it (to local.paths): podman's database records the old
    run root and refuses the new one ("database configuration mismatch"). Nothing runs from it here (`up` is
    fresh), so its database is dropped; the images, in the storage itself, stay."""
    legacy = podman.storage / "run"
    if legacy.is_dir():
        (podman.storage / "root" / "libpod" / "bolt_state.db").unlink(missing_ok=True)
        shutil.rmtree(legacy)


def _start_supervisor(layout: Layout) -> None:
    if layout.supervisor.pid():
        return
    with layout.log.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "runner", "supervise", "--workdir", str(layout.folder.parent)],
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=Path(__file__).resolve().parents[1])
    layout.supervisor.record(process)


def _wait_steady(layout: Layout, generation: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while True:
        status = layout.read(layout.status_file, {}) or {}
        if not layout.supervisor.pid():
            raise RunnerError(f"the supervisor stopped; its log {layout.log} ends with:\n"
                              f"{layout.log.read_text(errors='replace')[-1500:]}")
        if status.get("generation") == generation:
            summary = ", ".join(f"{t['name'].rsplit('-', 2)[-2]}:{t['state']}" for t in status["tasks"])
            if summary != last:
                say(f"==> tasks: {summary or 'none'}")
                last = summary
            if status.get("steady"):
                return
        if time.monotonic() > deadline:
            raise RunnerError(f"the tasks were not all healthy within {timeout:.0f} s "
                              f"(last error: {status.get('error', 'none')}); see {layout.log} and "
                              "`podman logs` of the task containers")
        time.sleep(0.5)


def run_migration(layout: Layout, d: deployed.Deployment, args: argparse.Namespace) -> int:
    task = deployed.migration_task(d, args.registry, args.migration_family)
    say(f"==> running the migration task {task.family}:{task.revision} once")
    podman = layout.podman()
    podman.pull(task.image)
    db_host = task.environment.get("DB_HOST")
    # Its output goes to stderr with the progress lines: stdout carries only the URL.
    _, finished = podman_tasks.start(podman, task, address=None, detach=False, endpoint=d.endpoint, output=sys.stderr,
                                     db_host=(db_host, layout.db_address) if db_host else None,
                                     prefix=layout.prefix + "-once")
    say(f"==> the migration task exited with code {finished.returncode}")
    return finished.returncode


def migrate(args: argparse.Namespace) -> int:
    try:
        layout, _ = Layout.load(Path(args.workdir))
    except OSError:
        print(f"error: nothing is up in {args.workdir}: run `python -m runner up` first", file=sys.stderr)
        return 1
    try:
        d = deployed.read(args.endpoint, args.cluster, args.service, args.registry, args.region)
        return run_migration(layout, d, args)
    except ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def down(args: argparse.Namespace, quiet: bool = False) -> int:
    folder = Path(args.workdir).resolve() / "runner"
    if not (folder / "runner.json").exists():
        if not quiet:
            say(f"==> nothing is up in {args.workdir}")
        return 0
    layout, _ = Layout.load(Path(args.workdir))
    layout.supervisor.stop()
    podman = layout.podman()
    names = list(podman.containers()) if (podman.storage / "root").exists() else []
    if names:
        say(f"==> stopping {len(names)} task(s)")
        podman.run("rm", "--force", "--time", "10", *names, timeout=120)
    say("==> stopping HAProxy and PostgreSQL")
    Balancer(layout.folder).stop()
    _database(layout).stop()
    for path in (layout.desired_file, layout.status_file, layout.tasks_file, layout.settings_file):
        path.unlink(missing_ok=True)
    # The short folders outside the checkout (local.paths): the balancer's socket, and podman's run root
    # where the storage is this work folder's own (a storage given with --podman-storage may serve others).
    paths.remove(layout.folder)
    if layout.podman_storage is None:
        paths.remove(podman.storage)
    say("==> down: nothing of this work folder is running")
    return 0


def status(args: argparse.Namespace) -> int:
    layout = Layout(workdir=Path(args.workdir))
    print(json.dumps(layout.read(layout.status_file, {}), indent=1))
    return 0


def supervise(args: argparse.Namespace) -> int:
    from runner.scheduler import Supervisor
    layout, _ = Layout.load(Path(args.workdir))
    Supervisor(layout).run()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("up", "down", "migrate", "status", "supervise"):
        p = sub.add_parser(name)
        p.add_argument("--workdir", default=str(WORKDIR), help="state folder (default .local-deploy)")
        if name in ("up", "migrate"):
            p.add_argument("--endpoint", required=True, help="the emulator, http://127.0.0.1:PORT")
            p.add_argument("--cluster", required=True)
            p.add_argument("--service", required=True)
            p.add_argument("--registry", required=True, help="the local registry, 127.0.0.1:PORT")
            p.add_argument("--region", default="us-east-1")
            p.add_argument("--migration-family", default=None,
                           help="migration task definition: family, family:revision or ARN "
                                "(default: the service's family, -app -> -migrate)")
        if name == "up":
            p.add_argument("--port", type=int, default=0, help="HAProxy's port on 127.0.0.1 (default: a free one)")
            p.add_argument("--certificate", default=None,
                           help="when the listener serves HTTPS: a PEM with the certificate imported into the "
                                "emulator's ACM under the listener's ARN, followed by its private key")
            p.add_argument("--network", default="127.0.10",
                           help="first three octets of the loopback addresses (PostgreSQL .2, tasks .11+)")
            p.add_argument("--podman-storage", default=None, help="podman's storage (default <workdir>/runner/podman)")
            p.add_argument("--migrate", action="store_true", help="run the migration task once before the tasks")
            p.add_argument("--wait", type=float, default=600, help="seconds to wait for healthy tasks")
            p.add_argument("--no-wait", action="store_true",
                           help="return once the supervisor has the new deployment (python -m release waits itself)")
    args = parser.parse_args(argv)
    return {"up": up, "down": down, "migrate": migrate, "status": status, "supervise": supervise}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
