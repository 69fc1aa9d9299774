"""The dev stack's service as the runner reads it, created on the emulator with boto3 (no Terraform, which
takes ~100 s): RDS with an RDS-managed secret, a target group + listener, the app and migration task
definitions with container definitions shaped as infra/service.py writes them, and the service.

Health-check settings are the ALB's fastest allowed (interval 5 s, timeout 2 s), so tests do not wait on
dev's 15 s; the runner maps them exactly as it maps dev's.
"""

from __future__ import annotations

from dataclasses import dataclass

import boto3

from local import EMULATOR_BOTO
from local.certificate import LocalCertificate

REGION = "us-east-1"
CREDENTIALS = {**EMULATOR_BOTO, "region_name": REGION}
ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@dataclass
class Service:
    endpoint: str
    cluster: str
    name: str
    secret_arn: str
    db_address: str
    repository: str
    tag: str
    target_group_arn: str

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.endpoint, **CREDENTIALS)


def container(*, image: str, command: list[str], port: int | None, environment: dict[str, str],
              secret_arn: str) -> dict:
    """One container definition as infra/service.py writes it."""
    c = {
        "name": "app", "image": image, "essential": True, "command": command, "user": "10001",
        "readonlyRootFilesystem": True, "privileged": False, "stopTimeout": 10,
        "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"]}},
        "mountPoints": [{"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}],
        "environment": [{"name": k, "value": v} for k, v in sorted(environment.items())],
        "secrets": [{"name": "DB_USERNAME", "valueFrom": f"{secret_arn}:username::"},
                    {"name": "DB_PASSWORD", "valueFrom": f"{secret_arn}:password::"}],
    }
    if port:
        c["portMappings"] = [{"containerPort": port, "protocol": "tcp"}]
    return c


def register(service: Service, *, family: str, command: list[str], tag: str, migrate_on_start: bool,
             extra: dict[str, str] | None = None) -> str:
    env = {"DB_HOST": service.db_address, "DB_PORT": "5432", "DB_NAME": "app", "DB_SSLMODE": "require",
           "DB_SECRET_ARN": service.secret_arn, **(extra or {})}
    port = None
    if command == ["serve"]:
        env |= {"PORT": "8000", "MIGRATE_ON_START": "true" if migrate_on_start else "false"}
        port = 8000
    definition = container(image=f"{ECR}/{service.repository}:{tag}", command=command, port=port,
                           environment=env, secret_arn=service.secret_arn)
    return service.client("ecs").register_task_definition(
        family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        volumes=[{"name": "tmp"}], containerDefinitions=[definition])["taskDefinition"]["taskDefinitionArn"]


def create(endpoint: str, *, name: str, repository: str, tag: str, desired_count: int, migrate_on_start: bool,
           minimum_healthy_percent: int = 100, maximum_percent: int = 200, deregistration_delay: int = 5,
           circuit_breaker: bool = False, certificate: LocalCertificate | None = None) -> Service:
    """certificate: HTTPS on 443 with that certificate imported into the emulator's ACM, and HTTP on 80
    redirecting to it (prod's listeners, infra/load_balancer.py); None: HTTP on 80 forwards (dev's)."""
    c = lambda s: boto3.client(s, endpoint_url=endpoint, **CREDENTIALS)  # noqa: E731
    ec2, rds, elb, ecs = c("ec2"), c("rds"), c("elbv2"), c("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")["Subnet"]["SubnetId"]
               for i, z in enumerate("ab")]
    group_id = ec2.create_security_group(GroupName=f"{name}-tasks", Description="tasks", VpcId=vpc)["GroupId"]
    db = rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t4g.micro",
                                MasterUsername="app_admin", ManageMasterUserPassword=True, DBName="app",
                                AllocatedStorage=20)["DBInstance"]
    db = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
    alb = elb.create_load_balancer(Name=name, Subnets=subnets, Type="application")["LoadBalancers"][0]
    group = elb.create_target_group(
        Name=name, Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip", HealthCheckPath="/health",
        HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=2, HealthyThresholdCount=2,
        UnhealthyThresholdCount=2, Matcher={"HttpCode": "200"})["TargetGroups"][0]
    elb.modify_target_group_attributes(TargetGroupArn=group["TargetGroupArn"], Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": str(deregistration_delay)}])
    forward = [{"Type": "forward", "TargetGroupArn": group["TargetGroupArn"]}]
    if certificate:
        arn = c("acm").import_certificate(Certificate=certificate.certificate.read_bytes(),
                                          PrivateKey=certificate.key.read_bytes())["CertificateArn"]
        elb.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTPS", Port=443,
                            Certificates=[{"CertificateArn": arn}], DefaultActions=forward)
        elb.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
            {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])
    else:
        elb.create_listener(LoadBalancerArn=alb["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=forward)
    ecs.create_cluster(clusterName=name)
    service = Service(endpoint=endpoint, cluster=name, name=f"{name}-app",
                      secret_arn=db["MasterUserSecret"]["SecretArn"], db_address=db["Endpoint"]["Address"],
                      repository=repository, tag=tag, target_group_arn=group["TargetGroupArn"])
    app = register(service, family=f"{name}-app", command=["serve"], tag=tag, migrate_on_start=migrate_on_start)
    register(service, family=f"{name}-migrate", command=["migrate"], tag=tag, migrate_on_start=False)
    ecs.create_service(
        cluster=name, serviceName=service.name, taskDefinition=app, desiredCount=desired_count,
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": [group_id],
                                                        "assignPublicIp": "DISABLED"}},
        loadBalancers=[{"targetGroupArn": group["TargetGroupArn"], "containerName": "app", "containerPort": 8000}],
        deploymentConfiguration={"minimumHealthyPercent": minimum_healthy_percent, "maximumPercent": maximum_percent,
                                 # as infra/service.py sets it
                                 "deploymentCircuitBreaker": {"enable": circuit_breaker, "rollback": circuit_breaker}})
    return service
