"""The stack's outputs the release needs, from `terraform output -json` in the stack's folder or a file."""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from release.model import BadInput

ROOT = Path(__file__).resolve().parents[1]
# infra/stacks.py declares these outputs on every AppStack.
NEEDED = ("cluster_name", "service_name", "migration_task_definition_arn", "task_subnet_ids",
          "task_security_group_id", "ecr_repository_url", "load_balancer_url")


# What each command reads: a first push needs only the repository (applied alone, before the rest).
NEEDED_BY = {"build": (), "push": ("ecr_repository_url",),
             "migrate": ("ecr_repository_url", "cluster_name", "migration_task_definition_arn", "task_subnet_ids",
                         "task_security_group_id"),
             # A first deploy creates the cluster, the service and the load balancer: deploy reads them (NEEDED)
             # after its apply.
             "deploy": ("ecr_repository_url",),
             "rollback": ("ecr_repository_url", "cluster_name", "service_name", "load_balancer_url"),
             "status": ("ecr_repository_url", "cluster_name", "service_name"),
             "promote": NEEDED, "release": NEEDED}
FIRST_DEPLOY = ("An environment with no stack yet is created by `python -m release promote --env ENV --image FILE` "
                "(or `release --env ENV`): its service starts no task before the first migration.")
# The commands that take an environment from nothing: without all of NEWBORN among the outputs (no stack applied
# yet, or a first apply that stopped half-way) they read what there is and create the stack first (flow.create).
FROM_NOTHING = ("promote", "release")
NEWBORN = ("cluster_name", "service_name")


@dataclass(frozen=True)
class StackOutputs:
    cluster: str = ""
    service: str = ""
    migration_task_definition: str = ""
    subnets: tuple[str, ...] = ()
    security_group: str = ""
    repository_url: str = ""
    load_balancer_url: str = ""

    @property
    def exists(self) -> bool:
        """Whether the stack was applied: it has a cluster and a service."""
        return bool(self.cluster and self.service)

    @property
    def repository_name(self) -> str:
        """The repository's name: what follows the registry host in its URL."""
        return self.repository_url.split("/", 1)[1]


def parse(raw: dict, where: str, needed: tuple[str, ...] = NEEDED, from_nothing: bool = False) -> StackOutputs:
    """From `terraform output -json` ({name: {"value": v}}) or a flat {name: value} file; BadInput naming
    each of `needed` that is missing. `from_nothing`: a stack without all of NEWBORN (never applied, or its first
    apply stopped half-way) is no error:
    its outputs are what there is (`StackOutputs.exists` is False)."""
    values = {k: (v["value"] if isinstance(v, dict) and "value" in v else v) for k, v in raw.items()}
    missing = [name for name in needed if not values.get(name)]
    if from_nothing and not all(values.get(name) for name in NEWBORN):
        missing = []
    if missing:
        raise BadInput(f"the stack outputs in {where} lack {', '.join(missing)}: deploy the environment's stack "
                       f"first. {FIRST_DEPLOY} A stack applied from an older commit gets them from `npx cdktf deploy "
                       "ENV` of this one")
    subnets = tuple(s for s in str(values.get("task_subnet_ids") or "").split(",") if s)
    return StackOutputs(cluster=values.get("cluster_name", ""), service=values.get("service_name", ""),
                        migration_task_definition=values.get("migration_task_definition_arn", ""), subnets=subnets,
                        security_group=values.get("task_security_group_id", ""),
                        repository_url=values.get("ecr_repository_url", ""),
                        load_balancer_url=values.get("load_balancer_url", ""))


def from_file(path: Path, needed: tuple[str, ...] = NEEDED, from_nothing: bool = False) -> StackOutputs:
    path = Path(path)
    if not path.is_file():
        raise BadInput(f"no outputs file at {path}: write it with `terraform output -json > {path}` in the "
                       "stack's folder, or leave --outputs out to ask Terraform")
    return parse(json.loads(path.read_text()), str(path), needed, from_nothing)


def from_terraform(stack_dir: Path, needed: tuple[str, ...] = NEEDED, terraform: str = "terraform",
                   env: dict[str, str] | None = None, from_nothing: bool = False) -> StackOutputs:
    stack_dir = Path(stack_dir)
    if not stack_dir.is_dir():
        raise BadInput(f"no synthesized stack at {stack_dir}: run `make synth` (or `python main.py`), then "
                       "`terraform init` there, or pass --outputs FILE")
    result = subprocess.run([terraform, "output", "-json", "-no-color"], cwd=stack_dir, capture_output=True,
                            text=True, env=env, timeout=300)
    if result.returncode != 0:
        raise BadInput(f"`terraform output -json` in {stack_dir} failed (exit {result.returncode}): "
                       f"{chr(10).join(result.stderr.strip().splitlines()[-12:])}\nrun `terraform init` there, or pass --outputs FILE")
    return parse(json.loads(result.stdout or "{}"), f"`terraform output` of {stack_dir}", needed, from_nothing)
