"""The stacks: StateBucketStack (Terraform state, local state) and AppStack (one per environment).

A stack only composes constructs and declares outputs; infra/policy.py checks each one when it is
synthesized. Given an `endpoint` (main.py passes `AWS_ENDPOINT_URL`), the provider and the S3 backend
talk to it (a local emulator) with the settings an emulator needs.
"""
from __future__ import annotations

import json

from cdktf import LocalBackend, S3Backend, TerraformOutput, TerraformStack
from constructs import Construct
from cdktf_cdktf_provider_aws.provider import (AwsProvider, AwsProviderDefaultTags, AwsProviderEndpoints,
                                               AwsProviderIgnoreTags)
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration, S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleFilter, S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy

from infra.access_logs import AccessLogBucket
from infra.buckets import deny_insecure_transport, protect_bucket
from infra.ci_identity import CiIdentity
from infra.config import BOOTSTRAP_STACK, BOOTSTRAP_STATE, VERIFIED_TAG, BootstrapConfig, EnvironmentConfig
from infra.database import Database
from infra.encryption import EncryptionKey
from infra.firewall import WebFirewall
from infra.load_balancer import LoadBalancer
from infra.monitoring import Alarms, AlarmTopic, Dashboard, Watched
from infra.network import Network
from infra.policy import enforce
from infra.registry import ContainerRegistry
from infra.service import WebService
from local import EMULATOR_KEY

LOCAL_STATE_PATH = f"../../../{BOOTSTRAP_STATE}"  # from cdktf.out/stacks/bootstrap/ to beside cdktf.out/
# Services this stack calls; each gets the custom endpoint when one is set.
EMULATED_SERVICES = ("ec2", "elbv2", "rds", "secretsmanager", "ecr", "logs", "iam", "ecs",
                     "applicationautoscaling", "sts", "s3", "kms", "cloudwatch", "wafv2", "sns")
# Rules that moved to the construct owning their security group; the `moved` blocks let a deployment
# made before the move plan a rename instead of deleting and re-creating the rules (a gap in traffic).
# Old address -> (construct id, rule id) of where the rule lives now.
MOVED_RULES = {
    "aws_vpc_security_group_egress_rule.service_alb-to-tasks_73E3A41E": ("load-balancer", "to-tasks"),
    "aws_vpc_security_group_ingress_rule.service_db-from-tasks_8A9A37A7": ("database", "from-tasks"),
}


def aws_provider(scope: Construct, region: str, tags: dict[str, str], endpoint: str | None) -> AwsProvider:
    # The release's mark on a revision it verified is the release's, not the configuration's: no drift, no plan.
    common = dict(region=region, default_tags=[AwsProviderDefaultTags(tags=tags)],
                  ignore_tags=[AwsProviderIgnoreTags(keys=[VERIFIED_TAG])])
    if endpoint is None:
        return AwsProvider(scope, "aws", **common)
    return AwsProvider(
        scope, "aws", **common,
        access_key=EMULATOR_KEY, secret_key=EMULATOR_KEY,  # the emulator accepts any credentials
        skip_credentials_validation=True, skip_metadata_api_check="true", skip_region_validation=True,
        s3_use_path_style=True,
        # Emulators answer unimplemented calls with HTTP 500, which the provider would retry for minutes.
        max_retries=2,
        endpoints=[AwsProviderEndpoints(**{service: endpoint for service in EMULATED_SERVICES})])


class StateBucketStack(TerraformStack):
    """The S3 bucket that holds every environment's Terraform state. Applied once, with local state."""

    def __init__(self, scope: Construct, id: str, *, config: BootstrapConfig, endpoint: str | None = None) -> None:
        super().__init__(scope, id)
        enforce(self)
        # Relative to cdktf.out/stacks/<stack>: the repository root, which outlives every re-synth.
        LocalBackend(self, path=LOCAL_STATE_PATH)
        aws_provider(self, config.region, {"purpose": "terraform-state", "managed-by": "cdktf"}, endpoint)
        self.bucket = S3Bucket(self, "state", bucket=config.state_bucket,
                               # Losing this bucket loses every stack's state: Terraform refuses to delete it.
                               lifecycle={"prevent_destroy": True})
        # A key of its own, so that the CI roles can be granted exactly its use (infra/ci_identity.py), and
        # every state write names it (AppStack._backend: kms_key_id), not S3's default AES256.
        state_key = EncryptionKey(self, "state-key", name=config.state_key_alias.removeprefix("alias/"),
                                  region=config.region, logs=False)
        protect_bucket(self, self.bucket, sse_algorithm="aws:kms", kms_key_arn=state_key.arn)
        S3BucketPolicy(self, "tls-only", bucket=self.bucket.id, policy=json.dumps({
            "Version": "2012-10-17", "Statement": [deny_insecure_transport(self.bucket)]}))
        S3BucketLifecycleConfiguration(self, "lifecycle", bucket=self.bucket.id, rule=[
            S3BucketLifecycleConfigurationRule(
                id="expire-old-state-versions", status="Enabled",
                filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                noncurrent_version_expiration=[S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                    noncurrent_days=config.noncurrent_version_expiry_days)],
                abort_incomplete_multipart_upload=[S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                    days_after_initiation=7)])])
        TerraformOutput(self, "state_bucket", value=self.bucket.bucket,
                        description="Every environment keeps its Terraform state in this bucket")
        if config.ci is not None:
            ci = CiIdentity(self, "ci", config=config.ci, state_bucket=self.bucket, state_key_arn=state_key.arn)
            TerraformOutput(self, "ci_deploy_role_arns", value={env: role.arn for env, role in ci.deploy_roles.items()},
                            description="Set each GitHub environment's variable AWS_DEPLOY_ROLE_ARN to its ARN")
            TerraformOutput(self, "ci_plan_role_arn", value=ci.plan_role.arn,
                            description="Set the GitHub variable AWS_PLAN_ROLE_ARN to this ARN (pull requests' plans)")


class AppStack(TerraformStack):
    """One environment: network, key, database, registry, load balancer (access logs, WAF) and service, state in S3."""

    def __init__(self, scope: Construct, id: str, *, config: EnvironmentConfig, state: BootstrapConfig,
                 endpoint: str | None = None) -> None:
        super().__init__(scope, id)
        enforce(self)
        prefix = config.prefix
        aws_provider(self, config.region, {"project": config.project, "environment": config.name,
                                           "managed-by": "cdktf"}, endpoint)
        self._backend(config, state, endpoint)

        key = EncryptionKey(self, "key", name=prefix, region=config.region, alarms=True)
        network = Network(self, "network", name=prefix, region=config.region, config=config.network, key=key)
        database = Database(self, "database", name=prefix, config=config.database, network=network, key=key)
        registry = ContainerRegistry(self, "registry", name=prefix, config=config.registry, key=key)
        lb_config = config.load_balancer
        access_logs = AccessLogBucket(self, "access-logs", name=prefix, account_id=key.account_id,
                                      retention_days=lb_config.request_log_retention_days,
                                      # A load balancer that may be destroyed takes its logs with it.
                                      force_destroy=not lb_config.deletion_protection)
        load_balancer = LoadBalancer(self, "load-balancer", name=prefix, config=lb_config, network=network,
                                     access_logs=access_logs, target_port=config.service.container_port,
                                     health_check_path=config.service.health_check_path)
        if lb_config.waf:
            WebFirewall(self, "firewall", name=prefix, load_balancer=load_balancer, key=key,
                        log_retention_days=lb_config.request_log_retention_days,
                        rate_limit_per_ip=lb_config.rate_limit_per_ip)
        # The alarms ECS watches during a deployment exist before the service that names them.
        topic = AlarmTopic(self, "alarm-topic", name=prefix, key=key, emails=config.alarms.emails)
        watched = Watched(region=config.region, load_balancer=load_balancer.alb.arn_suffix,
                          target_group=load_balancer.target_group.arn_suffix, database=database.instance.identifier)
        alarms = Alarms(self, "alarms", name=prefix, config=config.alarms, topic=topic, watched=watched)
        deployment_alarms = alarms.watch_load_balancer(config.service.least_tasks)
        alarms.watch_database(config.database)
        service = WebService(self, "service", name=prefix, region=config.region, config=config.service,
                             network=network, database=database, registry=registry,
                             load_balancer=load_balancer, key=key, deployment_alarms=deployment_alarms)
        alarms.watch_service(service)
        alarms.watch_app_log(service.log_group)
        Dashboard(self, "dashboard", name=prefix, watched=watched, web=service, alarms=alarms)

        outputs = {
            "app_url": (f"https://{lb_config.domain_name}" if lb_config.domain_name else load_balancer.url,
                        "Where users reach the app"),
            "load_balancer_url": (load_balancer.url, "The load balancer's own DNS name: point load_balancer.domain_name "
                                  "at it; the release verifies through it"),
            "ecr_repository_url": (registry.url, "Push the app image here"),
            "cluster_name": (service.cluster.name, "ECS cluster"),
            "service_name": (service.service.name, "ECS service"),
            "migration_task_definition_arn": (service.migration_task_definition.arn,
                                              "Run once per release: aws ecs run-task with the subnets and group below"),
            "task_subnet_ids": (",".join(f"{s.id}" for s in network.private_subnets), "Private subnets (comma-separated)"),
            "task_security_group_id": (service.security_group.id, "Security group of the app and migration tasks"),
            "database_endpoint": (database.address, "PostgreSQL host (reachable from the tasks only)"),
            "database_secret_arn": (database.secret_arn, "RDS-managed secret with username and password (the ARN, not the value)"),
            "alarm_topic_arn": (topic.arn, "Every alarm notifies this SNS topic: subscribe to it (alarms.emails does, by email)"),
        }
        for name, (value, description) in outputs.items():
            TerraformOutput(self, name, value=value, description=description)
        self.add_override("moved", [
            {"from": old, "to": f"{rule.terraform_resource_type}.{rule.friendly_unique_id}"}
            for old, (owner, rule_id) in MOVED_RULES.items()
            for rule in [self.node.find_child(owner).node.find_child(rule_id)]])

    def _backend(self, config: EnvironmentConfig, state: BootstrapConfig, endpoint: str | None) -> None:
        # The bucket's own region, not the environment's: one bucket holds every environment's state.
        # encrypt=True alone sends AES256 with every write, overriding the bucket's aws:kms default: name the key.
        S3Backend(self, bucket=state.state_bucket, key=config.state_key, region=state.region, encrypt=True,
                  kms_key_id=state.state_key_alias)
        # cdktf 0.21's S3BackendConfig has no `use_lockfile`: S3-native locking (Terraform >= 1.10) by override.
        self.add_override("terraform.backend.s3.use_lockfile", True)
        if endpoint is not None:
            for key, value in {"endpoints": {"s3": endpoint, "sts": endpoint}, "use_path_style": True,
                               "skip_credentials_validation": True, "skip_requesting_account_id": True,
                               "skip_metadata_api_check": True, "skip_region_validation": True,
                               "access_key": EMULATOR_KEY, "secret_key": EMULATOR_KEY}.items():
                self.add_override(f"terraform.backend.s3.{key}", value)


def build(app: Construct, bootstrap: BootstrapConfig, envs: list[EnvironmentConfig],
          endpoint: str | None = None) -> list[str]:
    """Add the bootstrap stack and one AppStack per environment to `app`; return the stack names.

    `endpoint`: a local AWS emulator's URL to point every provider and backend at; None for AWS."""
    StateBucketStack(app, BOOTSTRAP_STACK, config=bootstrap, endpoint=endpoint)
    for env in envs:
        AppStack(app, env.name, config=env, state=bootstrap, endpoint=endpoint)
    return [BOOTSTRAP_STACK] + [env.name for env in envs]
