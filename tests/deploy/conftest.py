"""The deploy cycle on the local AWS emulator, run once per test session; the tests read its record.

One emulator (its own process, a free port on 127.0.0.1) serves the whole session. `cycle` runs, in
order, and records every step (command, exit code, output, wall time) and what boto3 saw:

  bootstrap   `npx cdktf deploy bootstrap` (the user-facing command) applies the state bucket stack
  init        `terraform init` of dev: S3 backend in that bucket, `use_lockfile = true`
  plan/apply  `terraform plan -out`, `terraform apply` of that plan
  re-plan     `terraform plan -detailed-exitcode`: exit 0 means no perpetual diff
  observe     boto3 reads what was created (load balancer, service, task definition, database...)
  change      a new image tag (IMAGE_TAG): re-synth, `plan -out` (recorded as JSON), then a real
              `terraform apply` that stops at its approval prompt while holding the state lock; a
              second plan and apply run meanwhile (they must fail fast with a lock error, leaving the
              state as it was), then the holder gets "yes" and applies; a re-plan shows no changes
  destroy     `terraform destroy`, then an inventory of the emulator equals the one taken before
              dev was applied

`failed_apply` runs, on a second emulator and in a thread alongside the cycle, `python -m demo up`
(the `make demo` command, bootstrap included) whose apply fails half-way because a role with one of
the stack's names already exists, then checks the state and runs `python -m demo down`.

A step that fails stops the steps after it (destroy still runs when something was applied); a test
that reads a step which did not run fails and says why. Nothing is skipped.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import boto3
import pytest

from emulator.record import set_label
from emulator.server import start_background, stop_background
from infra.environments import ENVIRONMENTS
from tools import terraform as tf

ROOT = Path(__file__).resolve().parents[2]
# The environment `make demo` deploys: the first one configured, whatever its name.
STACK = next(iter(ENVIRONMENTS))
REGION = ENVIRONMENTS[STACK].region
NEW_IMAGE_TAG = "0.2.0"
CLASH_ROLE = f"{ENVIRONMENTS[STACK].prefix}-rds-monitoring"  # one of the stack's IAM role names (infra/database.py)
PROMPT = "Enter a value:"

pytestmark = pytest.mark.integration
# The tests' own reads sign with this key: the recorded-calls check (test_ci_permissions.py) leaves them out.
OBSERVER_KEY = "test-observer"
OBSERVER_BOTO = {"aws_access_key_id": OBSERVER_KEY, "aws_secret_access_key": OBSERVER_KEY}


def client(endpoint: str, service: str) -> Any:
    # A session per client: the failed-apply scenario runs in a thread next to the cycle, and boto3's
    # default session is not safe to create clients from in two threads at once.
    return boto3.session.Session().client(service, endpoint_url=endpoint, region_name=REGION,
                                          **OBSERVER_BOTO)


# -- what is on the emulator ------------------------------------------------------------------------

def inventory(endpoint: str) -> dict[str, list[str]]:
    """Every resource of the kinds the stacks create, by kind. A KMS key scheduled for deletion (what
    `destroy` does to a key, on AWS too: 7 days at least) and an INACTIVE (deregistered) task
    definition revision count as gone."""
    aws: Callable[[str], Any] = lambda service: client(endpoint, service)  # noqa: E731
    ec2, rds, ecs, elb, iam, kms = (aws(s) for s in ("ec2", "rds", "ecs", "elbv2", "iam", "kms"))
    found: dict[str, set[str]] = {
        "ec2:vpc": {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]},
        "ec2:subnet": {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]},
        "ec2:security-group": {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]},
        "ec2:route-table": {t["RouteTableId"] for t in ec2.describe_route_tables()["RouteTables"]},
        "ec2:internet-gateway": {g["InternetGatewayId"] for g in ec2.describe_internet_gateways()["InternetGateways"]},
        "ec2:nat-gateway": {n["NatGatewayId"] for n in ec2.describe_nat_gateways()["NatGateways"]
                            if n["State"] not in ("deleted", "deleting")},
        "ec2:elastic-ip": {a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]},
        "ec2:flow-log": {f["FlowLogId"] for f in ec2.describe_flow_logs()["FlowLogs"]},
        "ec2:vpc-endpoint": {e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints()["VpcEndpoints"]
                             if e["State"].lower() not in ("deleted", "deleting")},
        "rds:instance": {d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]},
        "rds:subnet-group": {g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]},
        "rds:parameter-group": {g["DBParameterGroupName"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
                                if not g["DBParameterGroupName"].startswith("default.")},
        "secretsmanager:secret": {s["Name"] for s in aws("secretsmanager").list_secrets()["SecretList"]
                                  if "DeletedDate" not in s},
        "ecr:repository": {r["repositoryName"] for r in aws("ecr").describe_repositories()["repositories"]},
        "logs:log-group": {g["logGroupName"] for page in aws("logs").get_paginator("describe_log_groups").paginate()
                           for g in page["logGroups"]},
        "iam:role": {r["RoleName"] for r in iam.list_roles(MaxItems=1000)["Roles"]},
        "iam:policy": {p["Arn"] for p in iam.list_policies(Scope="Local", MaxItems=1000)["Policies"]},
        "kms:alias": {a["AliasName"] for a in kms.list_aliases()["Aliases"] if not a["AliasName"].startswith("alias/aws/")},
        "kms:key": {k["KeyId"] for k in kms.list_keys()["Keys"]
                    if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] != "PendingDeletion"},
        "ecs:cluster": {c["clusterArn"] for c in ecs.describe_clusters(clusters=ecs.list_clusters()["clusterArns"])["clusters"]
                        if c["status"] == "ACTIVE"} if ecs.list_clusters()["clusterArns"] else set(),
        "ecs:task-definition": set(ecs.list_task_definitions(status="ACTIVE")["taskDefinitionArns"]),
        "elbv2:load-balancer": {lb["LoadBalancerArn"] for lb in elb.describe_load_balancers()["LoadBalancers"]},
        "elbv2:target-group": {tg["TargetGroupArn"] for tg in elb.describe_target_groups()["TargetGroups"]},
        "wafv2:web-acl": {a["ARN"] for a in aws("wafv2").list_web_acls(Scope="REGIONAL")["WebACLs"]},
        "s3:bucket": {b["Name"] for b in aws("s3").list_buckets()["Buckets"]},
        "application-autoscaling:target": {t["ResourceId"] for t in aws("application-autoscaling")
                                           .describe_scalable_targets(ServiceNamespace="ecs")["ScalableTargets"]},
        "cloudwatch:alarm": {a["AlarmName"] for a in aws("cloudwatch").describe_alarms()["MetricAlarms"]},
    }
    for cluster in found["ecs:cluster"]:
        found.setdefault("ecs:service", set()).update(ecs.list_services(cluster=cluster)["serviceArns"])
    return {kind: sorted(ids) for kind, ids in found.items()}


def observe(endpoint: str, outputs: dict[str, Any], stack: dict) -> dict[str, Any]:
    """What boto3 reads back for the checks of the deployed stack."""
    aws: Callable[[str], Any] = lambda service: client(endpoint, service)  # noqa: E731
    ec2, elb, ecs, rds = aws("ec2"), aws("elbv2"), aws("ecs"), aws("rds")
    lb_name = next(iter(stack["resource"]["aws_lb"].values()))["name"]
    lb = elb.describe_load_balancers(Names=[lb_name])["LoadBalancers"][0]
    listeners = elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]
    target_groups = elb.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"]
    vpc_id = lb["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    tiers = {s["SubnetId"]: {t["Key"]: t["Value"] for t in s.get("Tags", [])}.get("tier") for s in subnets}
    service = ecs.describe_services(cluster=outputs["cluster_name"], services=[outputs["service_name"]])["services"][0]
    task_definition = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]
    db_name = next(iter(stack["resource"]["aws_db_instance"].values()))["identifier"]
    database = rds.describe_db_instances(DBInstanceIdentifier=db_name)["DBInstances"][0]
    secret = json.loads(aws("secretsmanager").get_secret_value(
        SecretId=database["MasterUserSecret"]["SecretArn"])["SecretString"])
    repo_name = next(iter(stack["resource"]["aws_ecr_repository"].values()))["name"]
    repository = aws("ecr").describe_repositories(repositoryNames=[repo_name])["repositories"][0]
    log_groups = {g["logGroupName"]: g for page in aws("logs").get_paginator("describe_log_groups").paginate()
                  for g in page["logGroups"]}
    key_alias = next(iter(stack["resource"]["aws_kms_alias"].values()))["name"]
    key_arn = aws("kms").describe_key(KeyId=key_alias)["KeyMetadata"]["Arn"]
    return {
        "load_balancer": lb, "listeners": listeners, "target_groups": target_groups, "subnet_tiers": tiers,
        "service": service, "task_definition": task_definition, "database": database,
        "secret_keys": sorted(secret), "secret_username": secret.get("username"), "repository": repository,
        "log_groups": log_groups, "key_arn": key_arn,
    }


def state_object(endpoint: str, bucket: str, key: str) -> dict[str, Any]:
    """The state file (and its lock file) in the bucket: ETag, version, content digest, lock body."""
    s3 = client(endpoint, "s3")
    state = s3.get_object(Bucket=bucket, Key=key)
    body = state["Body"].read()
    found = {"etag": state["ETag"], "version": state.get("VersionId"), "sha256": hashlib.sha256(body).hexdigest(),
             "serial": json.loads(body).get("serial"), "lock": None}
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{key}.tflock").get("Contents", [])
    if listed:
        found["lock"] = json.loads(s3.get_object(Bucket=bucket, Key=f"{key}.tflock")["Body"].read())
    return found


# -- the record ---------------------------------------------------------------------------------------

@dataclass
class Record:
    """The steps and facts of one scenario, in order; what did not run and why."""

    deployment: tf.LocalDeployment
    steps: dict[str, tf.Step] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None
    not_run: dict[str, str] = field(default_factory=dict)

    def run(self, name: str, action: Callable[[], Any], *, may_fail: bool = False, always: bool = False) -> Any:
        """Run one stage; a failed step (unless `may_fail`) or an exception stops the stages after it."""
        if self.failure and not always:
            self.not_run[name] = self.failure
            return None
        try:
            result = action()
        except Exception as exc:  # noqa: BLE001 - recorded, and every test reading it fails with it
            self.failure = self.failure or f"stage {name!r} raised {exc!r}\n{traceback.format_exc()}"
            self.not_run[name] = f"it raised {exc!r}"
            return None
        if isinstance(result, tf.Step):
            self.steps[name] = result
            if not result.ok and not may_fail:
                self.failure = self.failure or (f"step {name!r} failed (exit {result.returncode}, log {result.log}):\n"
                                                f"{result.errors()}")
        else:
            self.facts[name] = result
        return result

    def _missing(self, name: str) -> str:
        reason = self.not_run.get(name, self.failure or "it was never started")
        return f"{name!r} did not run or record anything, because: {reason}"

    def step(self, name: str) -> tf.Step:
        if name not in self.steps:
            pytest.fail(self._missing(name), pytrace=False)
        return self.steps[name]

    def fact(self, name: str) -> Any:
        if name not in self.facts:
            pytest.fail(self._missing(name), pytrace=False)
        return self.facts[name]


RECORDS: dict[str, Record] = {}
# Every request the cycle's emulator answers is recorded (emulator/record.py), labelled with who makes it in CI:
# the plan role for a pull request's init and plans, the environment's deploy role for the release's init,
# outputs, plan-scope check and apply, `admin` for what an administrator applies, `test` for the tests' reads.
ADMIN_LABEL, PLAN_LABEL, TEST_LABEL = "admin", "plan", "test"
deploy_label: Callable[[str], str] = lambda environment: f"deploy:{environment}"  # noqa: E731


# -- fixtures ---------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def emulator_requests(tmp_path_factory) -> Path:
    """Where the cycle's emulator records every request it answers (emulator/record.py)."""
    return tmp_path_factory.mktemp("deploy-emulator") / "requests.jsonl"


@pytest.fixture(scope="session")
def emulator_endpoint(emulator_requests) -> Iterator[str]:
    """A patched moto server of the session's own, in its own process, on a free port of 127.0.0.1."""
    where = emulator_requests.parent
    pidfile = where / "emulator.pid"
    endpoint = start_background(pidfile, port=0, logfile=where / "emulator.log", record=emulator_requests)
    try:
        yield endpoint
    finally:
        stop_background(pidfile)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("deploy")


@pytest.fixture(scope="session")
def tools() -> tf.Tools:
    try:
        return tf.check_tools()
    except tf.MissingTool as exc:
        pytest.fail(f"the deploy tests need these tools: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def cycle(emulator_endpoint, workdir, tools, failed_apply_scenario) -> Record:
    failed_apply_scenario.start()  # alongside: see FailedApplyScenario
    deployment = tf.LocalDeployment(emulator_endpoint, workdir, STACK, terraform=tools.terraform)
    record = Record(deployment)
    RECORDS["cycle"] = record
    started = time.monotonic()
    _run_cycle(record, deployment, emulator_endpoint, workdir)
    record.facts["total-seconds"] = time.monotonic() - started
    return record


class FailedApplyScenario:
    """`demo up` failing half-way on an emulator of its own, then `demo down`.

    It runs in a thread next to the cycle: both spend most of their wall time in the provider's own
    waits (RDS, S3 lifecycle configuration), so overlapping them keeps the session short."""

    def __init__(self, where: Path, tools: tf.Tools) -> None:
        self.where, self.tools = where, tools
        self.pidfile = where / "emulator.pid"
        self.record: Record | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="failed-apply", daemon=True)
            self._thread.start()

    def wait(self) -> Record:
        self.start()
        assert self._thread is not None
        self._thread.join(timeout=1200)
        if self.record is None or self._thread.is_alive():
            pytest.fail("the failed-apply scenario did not finish within 20 minutes", pytrace=False)
        return self.record

    def _run(self) -> None:
        endpoint = start_background(self.pidfile, port=0, logfile=self.where / "emulator.log")
        deployment = tf.LocalDeployment(endpoint, self.where / "work", STACK, terraform=self.tools.terraform)
        record = Record(deployment)
        record.facts["endpoint"] = endpoint
        started = time.monotonic()
        try:
            _run_failed_apply(record, deployment, endpoint, self.where / "work")
        except Exception as exc:  # noqa: BLE001 - recorded for the tests
            record.failure = record.failure or f"the scenario raised {exc!r}\n{traceback.format_exc()}"
        finally:
            record.facts["total-seconds"] = time.monotonic() - started
            self.record = record
            RECORDS["failed-apply"] = record

    def stop(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=1200)
        stop_background(self.pidfile)


@pytest.fixture(scope="session")
def failed_apply_scenario(tmp_path_factory, tools) -> Iterator[FailedApplyScenario]:
    scenario = FailedApplyScenario(tmp_path_factory.mktemp("deploy-failed-apply"), tools)
    try:
        yield scenario
    finally:
        scenario.stop()


@pytest.fixture(scope="session")
def failed_apply(failed_apply_scenario) -> Record:
    return failed_apply_scenario.wait()


@pytest.fixture(scope="session")
def dev_config():
    """The configuration of the stack the cycle deploys."""
    from infra.environments import ENVIRONMENTS

    return ENVIRONMENTS[STACK]


@pytest.fixture(scope="session")
def new_image_tag() -> str:
    return NEW_IMAGE_TAG


@pytest.fixture(scope="session")
def aws(emulator_endpoint) -> Callable[[str], Any]:
    return lambda service: client(emulator_endpoint, service)


# -- the cycle --------------------------------------------------------------------------------------

def _cdktf_deploy_bootstrap(deployment: tf.LocalDeployment, workdir: Path) -> tf.Step:
    npx = shutil.which("npx")
    if npx is None or not (ROOT / "node_modules" / ".bin" / "cdktf").exists():
        raise tf.MissingTool("npx cdktf is missing: run `make setup` (npm ci installs cdktf-cli 0.21.0)")
    argv = [npx, "cdktf", "deploy", tf.BOOTSTRAP, "--auto-approve", "--skip-provider-lock", "--no-color",
            "--output", str(deployment.outdir), "--outputs-file", str(workdir / "bootstrap-outputs.json")]
    env = deployment.env(ENVIRONMENTS=STACK, CI="1")
    env.pop("CDKTF_OUTDIR", None)
    return deployment.run("bootstrap-cdktf-deploy", argv, cwd=ROOT, env=env, timeout=600)


def _endpoints(deployment: tf.LocalDeployment) -> dict[str, set[str]]:
    """Every endpoint each synthesized stack's provider and S3 backend would call, after the tool's own check."""
    found = {}
    for stack in (tf.BOOTSTRAP, STACK):
        deployment.check_targets_emulator(stack)
        config = deployment.stack_json(stack)
        urls = {url for provider in config["provider"]["aws"] for url in provider["endpoints"][0].values()}
        urls |= set(config["terraform"].get("backend", {}).get("s3", {}).get("endpoints", {}).values())
        found[stack] = urls
    return found


def _backend(deployment: tf.LocalDeployment) -> tuple[str, str]:
    s3 = deployment.stack_json()["terraform"]["backend"]["s3"]
    return s3["bucket"], s3["key"]


def _read_until(proc: subprocess.Popen, sink: list[str], stop: threading.Event) -> None:
    """Collect the holder's output as it comes: its prompt ends without a newline."""
    while not stop.is_set():
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            return
        sink.append(chunk.decode(errors="replace"))


def _locked_change(record: Record, deployment: tf.LocalDeployment, endpoint: str) -> None:
    """A real `terraform apply` holds the state lock at its prompt; a second plan and apply run meanwhile."""
    bucket, key = _backend(deployment)
    env = deployment.env()
    env.pop("TF_INPUT", None)
    env.pop("TF_IN_AUTOMATION", None)
    chunks: list[str] = []
    stop = threading.Event()
    started = time.monotonic()
    holder = subprocess.Popen([deployment.terraform_bin, "apply", "-no-color"], cwd=deployment.stack_dir(), env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    reader = threading.Thread(target=_read_until, args=(holder, chunks, stop), daemon=True)
    reader.start()
    answered = False
    try:
        deadline = time.monotonic() + 300
        while PROMPT not in "".join(chunks) and holder.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        if PROMPT not in "".join(chunks):
            raise RuntimeError(f"the holding apply never reached its prompt:\n{''.join(chunks)[-3000:]}")
        record.facts["lock-held"] = state_object(endpoint, bucket, key)
        record.run("dev-plan-while-locked", lambda: deployment.plan(STACK, "dev-plan-while-locked", out=None),
                   may_fail=True)
        record.run("dev-apply-while-locked",
                   lambda: deployment.apply(STACK, plan_file=None, name="dev-apply-while-locked"), may_fail=True)
        record.facts["lock-after-locked-out-runs"] = state_object(endpoint, bucket, key)
        holder.stdin.write(b"yes\n")
        holder.stdin.flush()
        answered = True
        holder.wait(timeout=600)
    finally:
        if holder.poll() is None:
            if not answered:
                holder.stdin.write(b"no\n")  # cancel: Terraform releases the lock
                holder.stdin.flush()
            try:
                holder.wait(timeout=120)
            except subprocess.TimeoutExpired:
                holder.terminate()
                holder.wait(timeout=60)
        stop.set()
        reader.join(timeout=10)
    output = "".join(chunks)
    record.steps["dev-apply-change"] = tf.Step("dev-apply-change", holder.args, holder.returncode,
                                               time.monotonic() - started, output)
    if holder.returncode != 0:
        record.failure = record.failure or f"the holding apply failed (exit {holder.returncode}):\n{output[-3000:]}"
    record.facts["lock-released"] = state_object(endpoint, bucket, key)


def _run_cycle(record: Record, deployment: tf.LocalDeployment, endpoint: str, workdir: Path) -> None:
    applied = False
    plan_role, deploy_role = PLAN_LABEL, deploy_label(STACK)

    def who(label: str) -> Callable[[], None]:
        return lambda: set_label(endpoint, label)

    try:
        record.run("label-admin", who(ADMIN_LABEL))
        record.run("bootstrap-cdktf-deploy", lambda: _cdktf_deploy_bootstrap(deployment, workdir))
        record.run("targets-emulator", lambda: _endpoints(deployment))
        record.run("bootstrap-outputs", lambda: json.loads((workdir / "bootstrap-outputs.json").read_text()))
        record.run("baseline", lambda: inventory(endpoint))
        record.run("dev-init", lambda: deployment.init(STACK))
        record.run("dev-plan", lambda: deployment.plan(STACK))
        record.run("dev-plan-json", lambda: deployment.show_plan(STACK))
        applied = record.failure is None
        record.run("dev-apply", lambda: deployment.apply(STACK))
        # A pull request's plan: the plan role, without the lock (.github/workflows/pull-request.yml).
        record.run("label-plan", who(plan_role))
        record.run("dev-pr-init", lambda: deployment.init(STACK, "dev-pr-init"))
        record.run("dev-replan", lambda: deployment.plan(STACK, "dev-replan", out=None, detailed=True, lock=False),
                   may_fail=True)
        record.run("label-test", who(TEST_LABEL))
        record.run("observed-outputs", lambda: deployment.outputs(STACK))
        record.run("observed", lambda: observe(endpoint, record.facts["observed-outputs"], deployment.stack_json()))
        record.run("state-object", lambda: state_object(endpoint, *_backend(deployment)))
        record.run("resources-in-state", lambda: tf.managed(deployment.state_list(STACK)))
        # A release: the same stack with a new image tag, by the environment's deploy role as the release job
        # runs it (.github/workflows/release.yml): init, outputs, the plan-scope check's plan, the apply.
        record.run("change-synth", lambda: deployment.synth(image_tag=NEW_IMAGE_TAG))
        record.run("label-deploy", who(deploy_role))
        record.run("change-init", lambda: deployment.init(STACK, "dev-init-after-change"))
        record.run("outputs", lambda: deployment.outputs(STACK))
        record.run("change-plan", lambda: deployment.plan(STACK, "dev-change-plan", out="change.tfplan", lock=False))
        record.run("change-plan-json", lambda: deployment.show_plan(STACK, "change.tfplan"))
        record.run("locked-change", lambda: _locked_change(record, deployment, endpoint))
        record.run("label-plan-again", who(plan_role))
        record.run("dev-replan-after-change",
                   lambda: deployment.plan(STACK, "dev-replan-after-change", out=None, detailed=True, lock=False),
                   may_fail=True)
        record.run("label-test-again", who(TEST_LABEL))
        record.run("observed-after-change", lambda: observe(endpoint, record.facts["outputs"], deployment.stack_json()))
    finally:
        if applied:
            record.run("label-admin-destroy", who(ADMIN_LABEL), always=True)
            record.run("dev-destroy", lambda: deployment.destroy(STACK), always=True)
            record.run("label-test-end", who(TEST_LABEL), always=True)
            record.run("state-after-destroy", lambda: deployment.state_list(STACK), always=True)
            record.run("after-destroy", lambda: inventory(endpoint), always=True)


# -- the failed apply -------------------------------------------------------------------------------

def _local_deploy(name: str, command: str, endpoint: str, workdir: Path, deployment: tf.LocalDeployment) -> tf.Step:
    argv = [sys.executable, "-m", "demo", command, "--stack", STACK,
            "--endpoint", endpoint, "--workdir", str(workdir)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return deployment.run(name, argv, cwd=ROOT, env=env, timeout=900)


def _run_failed_apply(record: Record, deployment: tf.LocalDeployment, endpoint: str, workdir: Path) -> None:
    record.run("baseline", lambda: inventory(endpoint))
    iam = client(endpoint, "iam")
    iam.create_role(RoleName=CLASH_ROLE, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "ec2.amazonaws.com"}}]}))
    try:
        record.run("up", lambda: _local_deploy("local-deploy-up-failing", "up", endpoint, workdir, deployment),
                   may_fail=True)
        record.run("resources-in-state", lambda: tf.managed(deployment.state_list(STACK)))
        record.run("plan-after-failure", lambda: deployment.plan(STACK, "dev-plan-after-failure", out="continue.tfplan"))
        record.run("plan-after-failure-json", lambda: deployment.show_plan(STACK, "continue.tfplan"))
    finally:
        iam.delete_role(RoleName=CLASH_ROLE)
        record.run("down", lambda: _local_deploy("local-deploy-down", "down", endpoint, workdir, deployment),
                   always=True)
        record.run("after-down", lambda: inventory(endpoint), always=True)


# -- the report -------------------------------------------------------------------------------------

TITLE = "deploy cycle on the local AWS emulator (wall time per step)"


def _report() -> list[str]:
    cycle = RECORDS.get("cycle")
    if cycle is None:
        return []
    lines = []
    for name, step in list(cycle.steps.items()) + [(f"failed-apply: {n}", s) for n, s in
                                                    RECORDS.get("failed-apply", Record(cycle.deployment)).steps.items()]:
        lines.append(f"  {step.seconds:7.1f} s  {'ok  ' if step.ok else f'exit {step.returncode}'}  {name}")
    if "dev-plan-json" in cycle.facts:
        created = [c for c in cycle.facts["dev-plan-json"].get("resource_changes", []) if c["change"]["actions"] == ["create"]]
        lines.append(f"  resources created by the dev apply: {len(created)}")
    if "total-seconds" in cycle.facts:
        lines.append(f"  whole cycle: {cycle.facts['total-seconds']:.1f} s")
    if cycle.failure:
        lines.append(f"  FAILED: {cycle.failure.splitlines()[0]}")
    return lines


def pytest_sessionfinish(session) -> None:
    """In a parallel run's worker: hand the report to the controller (tests/conftest.py prints it)."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None and (lines := _report()):
        output.setdefault("sections", []).append((TITLE, lines))


def pytest_terminal_summary(terminalreporter) -> None:
    if lines := _report():
        terminalreporter.section(TITLE)
        for line in lines:
            terminalreporter.write_line(line)
