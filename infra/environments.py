"""The values a team sets: the state bucket and one configuration per environment.

Every field not named here keeps the default documented in `infra/config.py`; every section's class
is imported below, ready to use (e.g. `service=ServiceConfig(cpu=512, memory=1024)`).
"""
from __future__ import annotations

from infra.config import (  # noqa: F401 (imported for editing the entries below)
    AlarmsConfig, AutoscalingConfig, BootstrapConfig, CiConfig, DatabaseConfig, EnvironmentConfig, LoadBalancerConfig, NetworkConfig,
    RegistryConfig, ServiceConfig,
)

REGION = "us-east-1"
# S3 bucket names are global: change this to one your account can own. Every environment keeps its
# Terraform state in this bucket, in REGION, whatever region the environment itself is in.
STATE_BUCKET = "notes-service-tfstate-example"
# The ACM certificate of prod's domain (in REGION): replace it with yours before the first deploy.
PROD_CERTIFICATE_ARN = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-4000-8000-000000000000"
# The name that certificate is for, which prod's users reach the app by: replace it with yours too.
PROD_DOMAIN = "notes.example.com"

# The GitHub repository whose workflows (.github/workflows/) may deploy: replace it with yours.
GITHUB_REPOSITORY = "example-org/notes-service"

ENVIRONMENTS: dict[str, EnvironmentConfig] = {
    "dev": EnvironmentConfig(
        name="dev",
        region=REGION,
        network=NetworkConfig(vpc_cidr="10.10.0.0/16", nat="single"),
        # Weakened on purpose so that dev can be destroyed and rebuilt in one command, costs one
        # database instance, and needs no domain (security/checkov-skips.toml lists what this gives up).
        database=DatabaseConfig(deletion_protection=False, backup_retention_days=1, multi_az=False),
        registry=RegistryConfig(force_delete=True),
        load_balancer=LoadBalancerConfig(deletion_protection=False, http_only=True),
        # One task that migrates on start (the seed's first strategy), on purpose: dev costs one task and needs
        # no pipeline step to migrate; a killed task is about 25 s of 503s until its replacement is healthy.
        service=ServiceConfig(migrations="on_start", desired_count=1),
    ),
    "prod": EnvironmentConfig(
        name="prod",
        region=REGION,
        network=NetworkConfig(vpc_cidr="10.20.0.0/16", az_count=3, nat="per_az"),
        database=DatabaseConfig(instance_class="db.t4g.medium", backup_retention_days=14),
        load_balancer=LoadBalancerConfig(certificate_arn=PROD_CERTIFICATE_ARN, domain_name=PROD_DOMAIN),
        # Migrations as a one-off task before each deploy (python -m release), so that the service scales out:
        # at least 2 tasks over the zones, up to 6 on CPU (60 %) or requests per target (500 a minute).
        service=ServiceConfig(migrations="task", desired_count=2, autoscaling=AutoscalingConfig(min_count=2, max_count=6)),
        # Who is emailed when an alarm goes off (each address confirms AWS's link first), e.g.
        # alarms=AlarmsConfig(emails=("oncall@example.com",)); the topic's ARN is the stack's alarm_topic_arn output.
    ),
}

# The state bucket's stack; its CI deploy role trusts the jobs of every environment above (a GitHub
# environment of the same name), so an environment added above is deployable from CI with no other edit.
BOOTSTRAP = BootstrapConfig(state_bucket=STATE_BUCKET, region=REGION,
                            ci=CiConfig(github_repository=GITHUB_REPOSITORY, environments=tuple(ENVIRONMENTS)))
