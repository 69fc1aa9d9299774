"""End to end through HAProxy: `python -m runner up|migrate|down` runs what the emulator says is deployed.

The deployment is created on an in-process emulator with boto3 (tests/runner/emulated_service.py); the
image is the session's build of app/ in the session's registry (conftest.py). Health checks are the ALB's
fastest allowed settings (5 s interval, 2 s timeout, 2/2 thresholds), deregistration delay 5 s.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

from local import paths
from runner.balancer import Balancer
from runner.layout import Layout
from tests.runner import emulated_service
from tests.runner.local_system import CLIENT_TIMEOUT, Load, Up, nothing_running, runner, started
from tests.webdriver import Chromium

ROOT = Path(__file__).resolve().parents[2]
# Five seconds between checks, two failed to go down, a two-second timeout (emulated_service.create).
# HAProxy starts a check `inter` after the previous one ended, so a task that stops answering should be
# out after fall x (inter + timeout) = 14 s (13 s measured with HAProxy alone); behind this runner, under
# load, it took 19 s, one check period more, not yet explained: the bound allows (fall + 1) periods.
# (An ALB's bound is fall x interval + timeout.)
DETECTION_WINDOW = (2 + 1) * (5 + 2)


@pytest.fixture(scope="module")
def three(emulator, app_image, podman_storage, tmp_path_factory):
    """Three tasks that do not migrate on start; `up --migrate` runs the migration task once first."""
    service = emulated_service.create(emulator.endpoint, name="notes-three", repository=app_image.repository,
                                      tag=app_image.tag, desired_count=3, migrate_on_start=False)
    deployment = Up(service, app_image.registry, tmp_path_factory.mktemp("three"), "127.0.101", podman_storage)
    started(deployment.up("--migrate"))
    yield deployment
    deployment.down()


def test_up_prints_a_url_where_notes_are_created_read_listed_updated_and_deleted(three):
    with httpx.Client(base_url=three.url, trust_env=False, timeout=10) as client:
        created = client.post("/notes", json={"title": "first", "body": "through HAProxy"})
        assert created.status_code == 201
        note = created.json()["id"]
        assert client.get(f"/notes/{note}").json()["title"] == "first"
        assert note in [n["id"] for n in client.get("/notes").json()["items"]]
        assert client.patch(f"/notes/{note}", json={"title": "second"}).json()["title"] == "second"
        assert client.delete(f"/notes/{note}").status_code == 204
        assert client.get(f"/notes/{note}").status_code == 404


def test_the_page_works_in_a_real_browser_through_the_load_balancer(three):
    # GIVEN the deployed tasks behind HAProxy, opened in headless Debian chromium
    with Chromium() as browser:
        browser.open(three.url.rstrip("/") + "/")
        assert browser.title() == "Notes"
        # WHEN a note is added with the page's own form THEN the page it is sent back to shows it
        browser.type("#title", "Added through HAProxy")
        browser.type("#body", "in a real browser")
        browser.click("form button")
        assert "Added through HAProxy" in browser.wait_for_text("article h2", "Added through HAProxy")


def test_all_three_tasks_become_healthy_in_the_load_balancer(three):
    states = Balancer(three.layout.folder).states()
    assert sorted(state for state in states.values() if state != "MAINT") == ["UP", "UP", "UP"]
    assert [t["state"] for t in three.status()["tasks"]] == ["serving"] * 3


def test_the_migration_task_applied_the_schema_once(three):
    assert three.result.stderr.count('"event": "migrate.applied"') == 1
    assert "the migration task exited with code 0" in three.result.stderr
    assert three.database().sql("SELECT count(*) FROM alembic_version", database="app").strip() == "1"


def test_tasks_run_with_the_task_definitions_user_read_only_root_and_no_capabilities(three):
    name = next(iter(three.containers()))
    inspected = json.loads(three.layout.podman().run("inspect", name).stdout)[0]
    assert inspected["Config"]["User"] == "10001"
    assert inspected["HostConfig"]["ReadonlyRootfs"] is True
    assert inspected["HostConfig"]["CapAdd"] in ([], None)
    assert "/tmp" in inspected["HostConfig"]["Tmpfs"]


def test_the_database_refuses_connections_without_tls(three):
    import psycopg
    user = "app_admin"
    with pytest.raises(psycopg.OperationalError, match="no encryption|SSL off|pg_hba"):
        psycopg.connect(host=three.layout.db_address, port=5432, dbname="app", user=user, password="x",
                        sslmode="disable", connect_timeout=5)


def test_a_rolling_deploy_under_load_fails_no_request(three):
    before = set(three.containers())
    arn = emulated_service.register(three.service, family=f"{three.service.cluster}-app", command=["serve"],
                                    tag=three.service.tag, migrate_on_start=False, extra={"RELEASE": "2"})
    three.service.client("ecs").update_service(cluster=three.service.cluster, service=three.service.name,
                                               taskDefinition=arn)
    with Load(three.url) as load:
        result = three.up()
        time.sleep(1)
    started(result)
    print(f"rolling deploy: {len(load.results)} requests, {len(load.failures)} failed")
    assert load.failures == []
    assert len(load.results) > 100
    assert not before & set(three.containers()), "every task was replaced"
    assert {t["arn"] for t in three.status()["tasks"]} == {arn}


def test_a_killed_task_leaves_the_load_balancer_within_the_health_check_window_and_is_replaced(three):
    victim = sorted(three.containers())[0]
    slot = next(t["slot"] for t in three.status()["tasks"] if t["name"] == victim)
    balancer = Balancer(three.layout.folder)
    with Load(three.url) as load:
        time.sleep(1)
        killed = time.monotonic()
        three.layout.podman().run("kill", "--signal", "KILL", victim)
        while balancer.states().get(slot) == "UP" and time.monotonic() - killed < 3 * DETECTION_WINDOW:
            time.sleep(0.2)
        out_of_rotation = time.monotonic() - killed
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            status = three.status()
            if status["steady"] and victim not in {t["name"] for t in status["tasks"]}:
                break
            time.sleep(0.5)
    in_window = [f for f in load.failures if killed <= f[0] <= killed + DETECTION_WINDOW]
    print(f"killed 1 of 3 tasks: out of rotation after {out_of_rotation:.1f} s; {len(load.failures)} of "
          f"{len(load.results)} requests failed ({sorted({str(f[1]) for f in load.failures})}), all within "
          f"{max((f[0] - killed for f in load.failures), default=0):.1f} s of the kill")
    assert out_of_rotation <= DETECTION_WINDOW
    # Only requests sent while the dead task could still be picked may fail: the balancer retries nothing (as an
    # ALB: runner/balancer.py), so each of those is counted.
    assert load.failures == in_window
    assert three.status()["steady"]
    assert victim not in three.containers() and len(three.containers()) == 3


FREEZE = """import os, signal, sys
pids = [p for p in os.listdir('/proc') if p.isdigit() and int(p) not in (1, os.getpid())
        and b'serve' in open(f'/proc/{p}/cmdline', 'rb').read()]
for p in pids:
    os.kill(int(p), getattr(signal, sys.argv[1]))
print(len(pids))
"""


def test_a_task_that_stops_answering_is_taken_out_by_the_health_checks_within_their_window(three):
    # GIVEN a task whose process is frozen (SIGSTOP): its container runs, so only the health checks can tell.
    victim = sorted(t["name"] for t in three.status()["tasks"])[0]
    slot = next(t["slot"] for t in three.status()["tasks"] if t["name"] == victim)
    balancer, podman = Balancer(three.layout.folder), three.layout.podman()
    with Load(three.url) as load:
        time.sleep(1)
        frozen = time.monotonic()
        assert podman.run("exec", victim, "python", "-c", FREEZE, "SIGSTOP").stdout.strip() == "1"
        # The process froze somewhere within `podman exec`, which takes seconds on a busy machine.
        exec_seconds = time.monotonic() - frozen
        try:
            while balancer.states().get(slot, "").startswith("UP") and time.monotonic() - frozen < 3 * DETECTION_WINDOW:
                time.sleep(0.2)
            out_of_rotation = time.monotonic() - frozen
            time.sleep(CLIENT_TIMEOUT)  # requests already sent to it time out
        finally:
            podman.run("exec", victim, "python", "-c", FREEZE, "SIGCONT")
    print(f"frozen task out of rotation after {out_of_rotation:.1f} s (podman exec {exec_seconds:.1f} s); "
          f"{len(load.failures)} of {len(load.results)} requests failed")
    # THEN HAProxy marks it down within the detection window (+0.2 s polling)...
    assert out_of_rotation <= DETECTION_WINDOW + exec_seconds + 0.2
    # ...and only requests sent to it before that fail (each waits for the client's timeout).
    assert all(frozen <= failure.sent <= frozen + out_of_rotation for failure in load.failures)
    assert len(load.failures) <= math.ceil(DETECTION_WINDOW / CLIENT_TIMEOUT) + 1
    deadline = time.monotonic() + 3 * DETECTION_WINDOW
    while balancer.states().get(slot) != "UP" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert balancer.states().get(slot) == "UP", "back in rotation after healthy_threshold passing checks"


def test_after_a_database_restart_ready_goes_503_then_200_without_restarting_tasks(three):
    before = set(three.containers())
    database = three.database()
    with httpx.Client(base_url=three.url, trust_env=False, timeout=10) as client:
        database.halt()
        try:
            assert client.get("/ready").status_code == 503
            assert client.get("/health").status_code == 200
        finally:
            database.resume()
        deadline = time.monotonic() + 30
        while client.get("/ready").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert client.get("/ready").status_code == 200
        assert client.post("/notes", json={"title": "after restart", "body": ""}).status_code == 201
    assert set(three.containers()) == before


def test_after_the_secret_is_rotated_running_tasks_keep_serving(three):
    before = set(three.containers())
    secret = three.service.client("secretsmanager")
    user = json.loads(secret.get_secret_value(SecretId=three.service.secret_arn)["SecretString"])["username"]
    new_password = "rotated-" + str(time.time_ns())
    # What RDS does on rotation: the new password in PostgreSQL and in the secret.
    three.database().set_password(user, new_password)
    secret.put_secret_value(SecretId=three.service.secret_arn,
                            SecretString=json.dumps({"username": user, "password": new_password}))
    # Open sessions would keep working: end them, so the tasks must connect with the new password.
    three.database().sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{user}'")
    with httpx.Client(base_url=three.url, trust_env=False, timeout=10) as client:
        answers = [client.post("/notes", json={"title": f"rotated {i}", "body": ""}).status_code for i in range(9)]
    assert answers == [201] * 9
    assert set(three.containers()) == before
    podman = three.layout.podman()
    logs = "".join(podman.run("logs", name).stdout for name in before)
    assert '"event": "db.credentials_refreshed"' in logs, "the tasks re-read the rotated secret from the emulator"


def _bounds(deployment: Up, low: int, high: int) -> None:
    """What Terraform's apply of changed autoscaling bounds calls: Application Auto Scaling then moves the
    service's count into them (emulator patch n, as AWS documents), and the runner follows that count."""
    deployment.service.client("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs", ResourceId=f"service/{deployment.service.cluster}/{deployment.service.name}",
        ScalableDimension="ecs:service:DesiredCount", MinCapacity=low, MaxCapacity=high)


def _serving(deployment: Up, count: int, timeout: float = 100) -> float:
    """Seconds until `count` tasks, and only they, serve (healthy in the load balancer); fails after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        status = deployment.status()
        if status.get("desired_count") == count and status.get("steady") and len(status["tasks"]) == count:
            return time.monotonic() - started
        time.sleep(0.5)
    raise AssertionError(f"{count} tasks did not serve within {timeout} s: {deployment.status()}")


def test_the_runner_follows_the_services_count_from_3_to_5_to_2_under_load_without_a_failed_request(three):
    with Load(three.url) as load:
        _bounds(three, 5, 6)
        up = _serving(three, 5)
        _bounds(three, 2, 2)
        down = _serving(three, 2)
    _bounds(three, 3, 3)
    _serving(three, 3)
    print(f"scaled 3 -> 5 in {up:.1f} s, 5 -> 2 in {down:.1f} s: {len(load.results)} requests, "
          f"{len(load.failures)} failed")
    assert load.failures == []
    assert len(load.results) > 100


# A checkout as deep as a user's can be: over 120 bytes, a space in a folder name (podman refuses a run root
# over 50 bytes, a unix socket path is at most 107: local.paths keeps both out of the work folder).
DEEP = Path("a folder with spaces") / "the-team-projects" / "infrastructure" / "cdktf-reference-service-checkout"


@pytest.fixture
def one(emulator, app_image, podman_storage, tmp_path):
    # A name of its own per test: the emulator keeps every earlier test's resources.
    service = emulated_service.create(emulator.endpoint, name=f"notes-one-{uuid.uuid4().hex[:6]}", repository=app_image.repository,
                                      tag=app_image.tag, desired_count=1, migrate_on_start=True)
    deployment = Up(service, app_image.registry, tmp_path / DEEP / "work", "127.0.102", podman_storage)
    yield deployment
    deployment.down()


@pytest.fixture
def deep(emulator, app_image, tmp_path):
    """One task in a work folder at a path of over 120 bytes with a space, with the runner's own podman storage
    there (no --podman-storage), as `make demo` from a user's checkout has it."""
    service = emulated_service.create(emulator.endpoint, name=f"notes-deep-{uuid.uuid4().hex[:6]}",
                                      repository=app_image.repository, tag=app_image.tag, desired_count=1,
                                      migrate_on_start=True)
    deployment = Up(service, app_image.registry, tmp_path / DEEP / "work", "127.0.104", None)
    assert len(str(deployment.workdir.resolve())) > 120
    yield deployment
    deployment.down()
    storage = Layout(workdir=deployment.workdir).podman().storage
    subprocess.run(["umount", "-R", str(storage / "root" / "overlay")], capture_output=True)
    paths.remove(storage)


def test_one_task_that_migrates_on_start_serves_and_down_leaves_nothing_running(one):
    started(one.up())
    port = int(one.url.rsplit(":", 1)[1].strip("/"))
    with httpx.Client(base_url=one.url, trust_env=False, timeout=10) as client:
        assert client.post("/notes", json={"title": "one", "body": ""}).status_code == 201
        assert client.get("/ready").status_code == 200
    assert one.down().returncode == 0
    nothing_running(one, port)
    assert one.down().returncode == 0, "down is safe to repeat"


def test_from_a_deep_checkout_path_with_spaces_one_task_serves_and_down_removes_its_short_folders(deep):
    started(deep.up())
    layout = deep.layout
    runroot = layout.podman().runroot
    assert len(str(runroot)) <= paths.PODMAN_RUNROOT_MAX and runroot.parent.stat().st_mode & 0o777 == 0o700
    with httpx.Client(base_url=deep.url, trust_env=False, timeout=10) as client:
        assert client.post("/notes", json={"title": "deep", "body": ""}).status_code == 201
    assert deep.down().returncode == 0
    assert not runroot.parent.exists(), "podman's run root outside the checkout is removed by down"
    nothing_running(deep, int(deep.url.rsplit(":", 1)[1].strip("/")))


def test_a_service_missing_on_the_emulator_fails_clearly_and_starts_nothing(one):
    one.service.name = "no-such-service"
    result = one.up()
    assert result.returncode == 1
    assert f"service 'no-such-service' does not exist in cluster '{one.service.cluster}'" in result.stderr
    nothing_running(one, None)


def test_an_image_missing_from_the_registry_fails_clearly_and_leaves_nothing_running(one):
    arn = emulated_service.register(one.service, family=f"{one.service.cluster}-app", command=["serve"],
                                    tag="not-pushed", migrate_on_start=True)
    one.service.client("ecs").update_service(cluster=one.service.cluster, service=one.service.name,
                                             taskDefinition=arn)
    result = one.up()
    assert result.returncode == 1
    # podman's own words, the command that failed, and advice only because those words say what is missing
    assert "manifest unknown" in result.stderr
    assert "command: podman --root " in result.stderr
    assert f"pull --quiet --tls-verify=false {one.registry}/notes-app:not-pushed" in result.stderr
    assert "The registry does not have that image" in result.stderr
    nothing_running(one, None)


def test_a_port_in_use_fails_clearly_and_leaves_nothing_running(one):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = one.up("--port", str(port))
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    nothing_running(one, None)


# -- from nothing: the release's first-deploy sequence on the local system --------------------------------------

def test_from_nothing_to_three_tasks_no_request_reaches_a_task_before_the_schema_exists(emulator, app_image,
                                                                                        podman_storage, tmp_path):
    """The sequence `python -m release promote` runs for an environment with no service (release/flow.py, create):
    the service at 0 tasks (SERVICE_STOPPED), the migration task once, then the configured count (autoscaling's
    minimum, 3), followed by the runner. Requests run through the balancer from the start."""
    began = time.monotonic()
    service = emulated_service.create(emulator.endpoint, name=f"notes-zero-{uuid.uuid4().hex[:6]}",
                                      repository=app_image.repository, tag=app_image.tag, desired_count=0,
                                      migrate_on_start=False)
    deployment = Up(service, app_image.registry, tmp_path / "work", "127.0.105", podman_storage)
    try:
        started(deployment.up())
        assert deployment.status()["tasks"] == [] and deployment.containers() == {}
        with Load(deployment.url, path="/notes", seconds=300, pause=0.02) as answers:
            time.sleep(2)
            migrated = runner("migrate", *deployment.target())
            schema = time.monotonic()
            assert migrated.returncode == 0, migrated.stderr[-3000:]
            assert deployment.status()["tasks"] == []
            _bounds(deployment, 3, 6)
            took = _serving(deployment, 3)
            serving = time.monotonic()
            time.sleep(2)
        before = [r for r in answers.results if r[0] < schema]
        print(f"from an empty emulator to 3 serving tasks in {serving - began:.0f} s (the tasks {took:.0f} s after "
              f"the migration); {len(answers.results)} requests: {len(before)} before the schema existed, every one "
              "answered by the balancer (503, no task)")
        assert before and all(r[1:] == (503, "balancer") for r in before)
        assert all(r[1:] in ((503, "balancer"), (200, "app")) for r in answers.results), \
            sorted({r[1:] for r in answers.results})
        assert [r[1] for r in answers.results if r[0] > serving] == [200] * len([r for r in answers.results
                                                                                if r[0] > serving])
        assert deployment.database().sql("SELECT count(*) FROM alembic_version", database="app").strip() == "1"
    finally:
        deployment.down()
