"""WebService: ECS cluster, the app and migration task definitions, their roles, the service and its scaling.

Tasks get database credentials from the RDS-managed secret through the task definition's `secrets`
(never as plain values), pull only from their own repository, and log to a log group of their own.
"""
from __future__ import annotations

import json
from typing import Sequence

from constructs import Construct
from cdktf_cdktf_provider_aws.appautoscaling_policy import (
    AppautoscalingPolicy, AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration,
    AppautoscalingPolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecification as PredefinedMetric,
)
from cdktf_cdktf_provider_aws.appautoscaling_target import AppautoscalingTarget
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import CloudwatchMetricAlarm
from cdktf_cdktf_provider_aws.ecs_cluster import EcsCluster, EcsClusterSetting
from cdktf_cdktf_provider_aws.ecs_service import (
    EcsService, EcsServiceAlarms, EcsServiceDeploymentCircuitBreaker, EcsServiceLoadBalancer, EcsServiceNetworkConfiguration,
)
from cdktf_cdktf_provider_aws.ecs_task_definition import (
    EcsTaskDefinition, EcsTaskDefinitionRuntimePlatform, EcsTaskDefinitionVolume,
)
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

from infra.config import ServiceConfig
from infra.database import Database
from infra.encryption import EncryptionKey
from infra.load_balancer import LoadBalancer
from infra.network import Network
from infra.registry import ContainerRegistry

CONTAINER_NAME = "app"
SCRATCH_VOLUME = "tmp"


def _policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _assume_role(service: str) -> str:
    return _policy({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})


class WebService(Construct):
    """The app on Fargate behind the load balancer, plus a task definition that runs migrations once."""

    def __init__(self, scope: Construct, id: str, *, name: str, region: str, config: ServiceConfig,
                 network: Network, database: Database, registry: ContainerRegistry, load_balancer: LoadBalancer,
                 key: EncryptionKey, deployment_alarms: Sequence[CloudwatchMetricAlarm] = ()) -> None:
        """`deployment_alarms`: alarms that fail a deployment and roll it back when one goes to ALARM during it
        (ECS's deployment alarms, infra/monitoring.py DEPLOYMENT_ALARMS)."""
        super().__init__(scope, id)
        self.config = config
        self.cluster = EcsCluster(self, "cluster", name=name,
                                  setting=[EcsClusterSetting(name="containerInsights", value="enabled")])
        self.log_group = CloudwatchLogGroup(self, "logs", name=f"/ecs/{name}/app",
                                            retention_in_days=config.log_retention_days, kms_key_id=key.arn)
        self._security_groups(name, network, database, load_balancer)
        self._roles(name, registry, database, key)

        image = f"{registry.url}@{config.image_tag}" if config.is_digest else f"{registry.url}:{config.image_tag}"
        environment = {
            "DB_HOST": database.address,
            "DB_PORT": str(database.port),
            "DB_NAME": database.database_name,
            "DB_SSLMODE": "require",
            "DB_SECRET_ARN": database.secret_arn,
            "PORT": str(config.container_port),
            "MIGRATE_ON_START": "true" if config.migrations == "on_start" else "false",
        }
        common = dict(region=region, image=image, environment=environment, secret_arn=database.secret_arn)
        self.task_definition = self._task_definition(
            f"{name}-app", "app-task", command=["serve"], port=config.container_port, **common)
        self.migration_task_definition = self._task_definition(
            f"{name}-migrate", "migrate-task", command=["migrate"], port=None,
            **{**common, "environment": {k: v for k, v in environment.items() if k not in ("PORT", "MIGRATE_ON_START")}})

        desired = config.least_tasks
        self.service = EcsService(
            self, "service", name=f"{name}-app", cluster=self.cluster.arn,
            task_definition=self.task_definition.arn, desired_count=desired,
            launch_type="FARGATE", platform_version="LATEST",
            network_configuration=EcsServiceNetworkConfiguration(
                subnets=[s.id for s in network.private_subnets], security_groups=[self.security_group.id],
                assign_public_ip=False),
            load_balancer=[EcsServiceLoadBalancer(target_group_arn=load_balancer.target_group.arn,
                                                  container_name=CONTAINER_NAME,
                                                  container_port=config.container_port)],
            health_check_grace_period_seconds=config.health_check_grace_seconds,
            deployment_circuit_breaker=EcsServiceDeploymentCircuitBreaker(enable=True, rollback=True),
            alarms=EcsServiceAlarms(alarm_names=[a.alarm_name for a in deployment_alarms], enable=True,
                                    rollback=True) if deployment_alarms else None,
            deployment_minimum_healthy_percent=100, deployment_maximum_percent=200,
            availability_zone_rebalancing="ENABLED",
            enable_ecs_managed_tags=True, propagate_tags="SERVICE", enable_execute_command=False,
            wait_for_steady_state=False,
            # The autoscaler owns the count once it is on; Terraform must not reset it on every apply.
            lifecycle={"ignore_changes": ["desired_count"]} if config.autoscaling else None,
            depends_on=[load_balancer.http_listener] + ([load_balancer.https_listener] if load_balancer.https_listener else []),
        )
        if config.autoscaling:
            self._autoscaling(name, load_balancer)

    def _security_groups(self, name: str, network: Network, database: Database, lb: LoadBalancer) -> None:
        port = self.config.container_port
        self.security_group = SecurityGroup(self, "sg", name=f"{name}-tasks", vpc_id=network.vpc.id,
                                            description="App tasks: traffic from the load balancer only",
                                            tags={"Name": f"{name}-tasks"})
        VpcSecurityGroupIngressRule(self, "from-alb", security_group_id=self.security_group.id, ip_protocol="tcp",
                                    from_port=port, to_port=port, referenced_security_group_id=lb.security_group.id,
                                    description="App port from the load balancer")
        # Each group's owner writes the rules into its own group.
        lb.allow_to(self.security_group, port, "to-tasks", "Load balancer to the app tasks")
        database.allow_from(self.security_group, "from-tasks", "PostgreSQL from the app tasks")
        VpcSecurityGroupEgressRule(self, "to-db", security_group_id=self.security_group.id, ip_protocol="tcp",
                                   from_port=database.port, to_port=database.port,
                                   referenced_security_group_id=database.security_group.id,
                                   description="PostgreSQL to the database")
        # ECR, Secrets Manager and CloudWatch Logs are HTTPS APIs (through NAT or the VPC endpoints).
        VpcSecurityGroupEgressRule(self, "to-aws-apis", security_group_id=self.security_group.id, ip_protocol="tcp",
                                   from_port=443, to_port=443, cidr_ipv4="0.0.0.0/0",
                                   description="HTTPS to AWS APIs (ECR, Secrets Manager, Logs)")

    def _roles(self, name: str, registry: ContainerRegistry, database: Database, key: EncryptionKey) -> None:
        read_secret = {"Sid": "ReadDatabaseSecret", "Effect": "Allow",
                       "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                       "Resource": database.secret_arn}
        decrypt = {"Sid": "DecryptWithStackKey", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key.arn}
        # The execution role is ECS's: it pulls the image, writes logs and injects the secret at start.
        self.execution_role = IamRole(self, "execution-role", name=f"{name}-task-execution",
                                      assume_role_policy=_assume_role("ecs-tasks.amazonaws.com"))
        IamRolePolicy(self, "execution-policy", role=self.execution_role.id, name="pull-log-read-secret", policy=_policy(
            # GetAuthorizationToken has no resource-level permissions: AWS requires "*".
            {"Sid": "EcrLogin", "Effect": "Allow", "Action": ["ecr:GetAuthorizationToken"], "Resource": "*"},
            {"Sid": "PullAppImage", "Effect": "Allow",
             "Action": ["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"],
             "Resource": registry.arn},
            {"Sid": "WriteLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
             "Resource": f"{self.log_group.arn}:*"},
            read_secret, decrypt))
        # The task role is the app's: it may re-read the one secret after RDS rotates it.
        self.task_role = IamRole(self, "task-role", name=f"{name}-task",
                                 assume_role_policy=_assume_role("ecs-tasks.amazonaws.com"))
        IamRolePolicy(self, "task-policy", role=self.task_role.id, name="reread-database-secret",
                      policy=_policy(read_secret, decrypt))

    def _task_definition(self, family: str, id: str, *, region: str, image: str, command: list[str],
                         port: int | None, environment: dict[str, str], secret_arn: str) -> EcsTaskDefinition:
        config = self.config
        container = {
            "name": CONTAINER_NAME,
            "image": image,
            "essential": True,
            "command": command,
            "user": config.run_as_user,
            "readonlyRootFilesystem": True,
            "privileged": False,
            "stopTimeout": config.stop_timeout_seconds,
            "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"]}},
            "mountPoints": [{"sourceVolume": SCRATCH_VOLUME, "containerPath": "/tmp", "readOnly": False}],
            "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
            # ECS reads the keys of the RDS-managed secret at start; the values never pass through Terraform.
            "secrets": [{"name": "DB_USERNAME", "valueFrom": f"{secret_arn}:username::"},
                        {"name": "DB_PASSWORD", "valueFrom": f"{secret_arn}:password::"}],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": self.log_group.name, "awslogs-region": region,
                "awslogs-stream-prefix": id.removesuffix("-task")}},
        }
        if port is not None:
            container["portMappings"] = [{"containerPort": port, "protocol": "tcp"}]
            probe = (f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}"
                     f"{config.health_check_path}', timeout=4)")
            container["healthCheck"] = {"command": ["CMD", "python", "-c", probe], "interval": 15, "timeout": 5,
                                        "retries": 3, "startPeriod": 30}
        return EcsTaskDefinition(
            self, id, family=family, requires_compatibilities=["FARGATE"], network_mode="awsvpc",
            cpu=str(config.cpu), memory=str(config.memory),
            execution_role_arn=self.execution_role.arn, task_role_arn=self.task_role.arn,
            runtime_platform=EcsTaskDefinitionRuntimePlatform(operating_system_family="LINUX",
                                                              cpu_architecture="X86_64"),
            # A bind volume without a host path is task-local scratch space: the only writable path.
            volume=[EcsTaskDefinitionVolume(name=SCRATCH_VOLUME)],
            container_definitions=json.dumps([container]))

    def _autoscaling(self, name: str, lb: LoadBalancer) -> None:
        bounds = self.config.autoscaling
        target = AppautoscalingTarget(self, "scaling-target", service_namespace="ecs",
                                      resource_id=f"service/{self.cluster.name}/{self.service.name}",
                                      scalable_dimension="ecs:service:DesiredCount",
                                      min_capacity=bounds.min_count, max_capacity=bounds.max_count)
        metrics = {
            "cpu": (PredefinedMetric(predefined_metric_type="ECSServiceAverageCPUUtilization"),
                    bounds.cpu_target_percent),
            "requests": (PredefinedMetric(predefined_metric_type="ALBRequestCountPerTarget",
                                          resource_label=f"{lb.alb.arn_suffix}/{lb.target_group.arn_suffix}"),
                         bounds.requests_per_target),
        }
        for metric, (specification, target_value) in metrics.items():
            AppautoscalingPolicy(
                self, f"scale-on-{metric}", name=f"{name}-{metric}", policy_type="TargetTrackingScaling",
                service_namespace=target.service_namespace, resource_id=target.resource_id,
                scalable_dimension=target.scalable_dimension,
                target_tracking_scaling_policy_configuration=AppautoscalingPolicyTargetTrackingScalingPolicyConfiguration(
                    target_value=target_value, scale_in_cooldown=120, scale_out_cooldown=60,
                    predefined_metric_specification=specification))
