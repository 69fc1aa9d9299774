"""Each patch in emulator/patches.py makes moto answer as real AWS does."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from emulator import PatchError, patches

ECS_DIMENSION = "ecs:service:DesiredCount"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _ecs_service(aws, name, **extra):
    ec2, ecs = aws("ec2"), aws("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName=name)
    ecs.register_task_definition(
        family=name, requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "app:latest", "essential": True}])
    ecs.create_service(
        cluster=name, serviceName=name, taskDefinition=name, desiredCount=extra.pop("desiredCount", 1),
        launchType="FARGATE",
        networkConfiguration={"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}},
        **extra)
    return ecs


def _described(ecs, name):
    return ecs.describe_services(cluster=name, services=[name])["services"][0]


def _scalable_target(aws, name, **extra):
    _ecs_service(aws, name)
    return aws("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs", ResourceId=f"service/{name}/{name}", ScalableDimension=ECS_DIMENSION,
        MinCapacity=1, MaxCapacity=4, **extra)["ScalableTargetARN"]


def _parameter_group(aws, name):
    rds = aws("rds")
    rds.create_db_parameter_group(DBParameterGroupName=name, DBParameterGroupFamily="postgres16",
                                  Description="app")
    rds.modify_db_parameter_group(DBParameterGroupName=name, Parameters=[
        {"ParameterName": "log_min_duration_statement", "ParameterValue": "500", "ApplyMethod": "immediate"}])
    return rds


# a. Application Auto Scaling tagging

def test_tags_given_when_registering_a_scalable_target_are_listed_for_its_arn(aws, name):
    arn = _scalable_target(aws, name, Tags={"env": "dev"})
    assert aws("application-autoscaling").list_tags_for_resource(ResourceARN=arn)["Tags"] == {"env": "dev"}


def test_a_scalable_target_registered_without_tags_lists_an_empty_tag_map(aws, name):
    arn = _scalable_target(aws, name)
    assert aws("application-autoscaling").list_tags_for_resource(ResourceARN=arn)["Tags"] == {}


def test_tag_resource_adds_tags_to_a_scalable_target(aws, name):
    arn = _scalable_target(aws, name, Tags={"env": "dev"})
    aas = aws("application-autoscaling")
    aas.tag_resource(ResourceARN=arn, Tags={"team": "web"})
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"env": "dev", "team": "web"}


def test_untag_resource_removes_only_the_named_tag_keys(aws, name):
    arn = _scalable_target(aws, name, Tags={"env": "dev", "team": "web"})
    aas = aws("application-autoscaling")
    aas.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert aas.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"env": "dev"}


def test_listing_tags_of_an_unknown_scalable_target_arn_is_resource_not_found(aws, name):
    arn = _scalable_target(aws, name)
    with pytest.raises(ClientError) as error:
        aws("application-autoscaling").list_tags_for_resource(ResourceARN=arn + "0")
    assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"


# b. RDS DescribeDBParameters Source

def test_describe_db_parameters_reports_user_modified_parameters_with_source_user(aws, name):
    rds = _parameter_group(aws, name)
    params = rds.describe_db_parameters(DBParameterGroupName=name)["Parameters"]
    assert [(p["ParameterName"], p["ParameterValue"], p["Source"]) for p in params] == [
        ("log_min_duration_statement", "500", "user")]


def test_describe_db_parameters_filtered_by_source_user_returns_the_user_parameters(aws, name):
    rds = _parameter_group(aws, name)
    params = rds.describe_db_parameters(DBParameterGroupName=name, Source="user")["Parameters"]
    assert [p["ParameterName"] for p in params] == ["log_min_duration_statement"]


def test_describe_db_parameters_filtered_by_source_system_leaves_out_user_parameters(aws, name):
    rds = _parameter_group(aws, name)
    assert rds.describe_db_parameters(DBParameterGroupName=name, Source="system")["Parameters"] == []


# c. ECS availabilityZoneRebalancing

@pytest.mark.parametrize("value", ["ENABLED", "DISABLED"])
def test_describe_services_echoes_the_availability_zone_rebalancing_given_at_create(aws, name, value):
    ecs = _ecs_service(aws, name, availabilityZoneRebalancing=value)
    assert _described(ecs, name)["availabilityZoneRebalancing"] == value


def test_describe_services_echoes_the_availability_zone_rebalancing_set_by_update(aws, name):
    ecs = _ecs_service(aws, name, availabilityZoneRebalancing="ENABLED")
    ecs.update_service(cluster=name, service=name, availabilityZoneRebalancing="DISABLED")
    assert _described(ecs, name)["availabilityZoneRebalancing"] == "DISABLED"


def test_an_update_without_availability_zone_rebalancing_keeps_the_current_value(aws, name):
    ecs = _ecs_service(aws, name, availabilityZoneRebalancing="DISABLED")
    ecs.update_service(cluster=name, service=name, desiredCount=2)
    assert _described(ecs, name)["availabilityZoneRebalancing"] == "DISABLED"


def test_a_replica_service_created_without_availability_zone_rebalancing_defaults_to_enabled(aws, name):
    ecs = _ecs_service(aws, name)
    assert _described(ecs, name)["availabilityZoneRebalancing"] == "ENABLED"


# d. IAM AWS-managed policies

def test_an_aws_managed_policy_can_be_attached_to_a_role(aws, name):
    iam = aws("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "monitoring.rds.amazonaws.com"}}]}))
    arn = "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
    iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    assert [p["PolicyArn"] for p in attached] == [arn]


def test_iam_backends_created_before_the_emulator_started_get_the_aws_managed_policies():
    from moto.iam.models import iam_backends

    backend = iam_backends["111122223333"]["aws"]
    backend.aws_managed_policies, backend.managed_policies = [], {}  # as built without the setting
    patches.apply_iam_aws_managed_policies.body()  # the patch itself, not its once-per-process guard
    assert "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole" in backend.managed_policies


# the patch mechanism

def test_the_registry_lists_the_sixteen_patches_in_order():
    assert list(patches.ALL_PATCHES) == [
        patches.PATCH_AAS_TAGS, patches.PATCH_RDS_SOURCE, patches.PATCH_ECS_AZ, patches.PATCH_IAM_MANAGED,
        patches.PATCH_S3_SECURE_TRANSPORT, patches.PATCH_EC2_RULE_DESCRIPTION,
        patches.PATCH_RDS_PERFORMANCE_INSIGHTS, patches.PATCH_ECS_CREATE_SETTINGS, patches.PATCH_RDS_SECRET,
        patches.PATCH_S3_EVENTBRIDGE, patches.PATCH_ELBV2_SCHEME, patches.PATCH_ECS_RUN_TASK_FARGATE,
        patches.PATCH_ELBV2_LISTENER_PORT, patches.PATCH_AAS_CAPACITY, patches.PATCH_LOGS_METRIC_FILTER,
        patches.PATCH_LOGS_QUERY_DEFINITIONS]


def test_applying_the_patches_again_changes_nothing(emu):
    from moto.ecs.responses import EC2ContainerServiceResponse
    from moto.rds.responses import RDSResponse

    before = (EC2ContainerServiceResponse.create_service, RDSResponse.describe_db_parameters)
    patches.apply_all()
    assert (EC2ContainerServiceResponse.create_service, RDSResponse.describe_db_parameters) == before


def _remove(monkeypatch, target):
    """Take the moto attribute "module:Owner.attr" away (from the class that defines it) for this test."""
    module, _, path = target.partition(":")
    *owner_path, attr = path.split(".")
    owner = importlib.import_module(module)
    for part in owner_path:
        owner = getattr(owner, part)
    holders = [owner] + list(owner.__mro__ if isinstance(owner, type) else type(owner).__mro__)
    monkeypatch.delattr(next(h for h in holders if attr in vars(h)), attr)


@pytest.mark.parametrize("patch, target", [
    (patch, target) for patch in patches.ALL_PATCHES.values() for target in patch.requires],
    ids=lambda value: getattr(value, "name", value))
def test_a_patch_applied_again_after_its_moto_target_is_gone_fails_loudly_naming_the_patch(
        monkeypatch, patch, target):
    patch()
    _remove(monkeypatch, target)
    with pytest.raises(PatchError, match=rf"\[emulator patch {patch.name}\] moto internals changed: "
                                         rf"{re.escape(target)} is gone\. Review emulator/patches\.py"):
        patch()


@pytest.mark.parametrize("kind", [staticmethod, property])
def test_wrap_keeps_a_staticmethod_or_property_what_it_was(kind):
    class Model:
        value = kind(lambda *_: 1)

    patches.wrap(Model, "value")(lambda original, *args: original(*args) + 1)
    read = Model.value() if kind is staticmethod else Model().value
    assert (type(vars(Model)["value"]), read) == (kind, 2)


def test_a_different_moto_version_is_refused_naming_both_versions_and_what_to_do(monkeypatch):
    import moto

    monkeypatch.setattr(moto, "__version__", "9.9.9")
    with pytest.raises(PatchError) as error:
        patches.apply_all()
    assert all(part in str(error.value) for part in (
        "moto 9.9.9 is installed", f"written for moto {patches.MOTO_VERSION}", "`pipenv sync --dev`",
        "update MOTO_VERSION"))


def test_the_emulator_cli_refuses_a_different_moto_version_with_exit_code_2():
    script = ("import moto; moto.__version__ = '9.9.9'; from emulator.__main__ import main; "
              "raise SystemExit(main(['start', '--port', '0']))")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stderr.startswith("emulator: error: moto 9.9.9 is installed")) == (2, True), \
        done.stderr


# e. S3 bucket policies: aws:SecureTransport

DENY_INSECURE = {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}}


def _bucket_with_policy(aws, name, *statements):
    s3 = aws("s3")
    s3.create_bucket(Bucket=name)
    resources = [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [{**s, "Resource": resources} for s in statements]}))
    return s3


def test_a_deny_insecure_transport_policy_lets_object_requests_through(aws, name):
    s3 = _bucket_with_policy(aws, name, DENY_INSECURE)
    s3.put_object(Bucket=name, Key="state", Body=b"{}")
    assert s3.get_object(Bucket=name, Key="state")["Body"].read() == b"{}"


def test_a_statement_that_applies_to_tls_requests_still_denies(aws, name):
    s3 = _bucket_with_policy(aws, name, {**DENY_INSECURE, "Condition": {"Bool": {"aws:SecureTransport": "true"}}})
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket=name, Key="state", Body=b"{}")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_deny_without_a_condition_still_denies(aws, name):
    s3 = _bucket_with_policy(aws, name, {k: v for k, v in DENY_INSECURE.items() if k != "Condition"})
    with pytest.raises(ClientError) as error:
        s3.put_object(Bucket=name, Key="state", Body=b"{}")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


# f. EC2 descriptions of security group rules that reference a group

def _group_rule(aws, name, direction):
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group, peer = (ec2.create_security_group(GroupName=f"{name}-{n}", Description=n, VpcId=vpc)["GroupId"]
                   for n in ("app", "peer"))
    authorize = getattr(ec2, f"authorize_security_group_{direction}")
    rule = authorize(GroupId=group, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432,
                                                    "UserIdGroupPairs": [{"GroupId": peer, "Description": "db"}]}])
    rule_id = rule["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    return ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])["SecurityGroupRules"][0], peer


@pytest.mark.parametrize("direction", ["ingress", "egress"])
def test_a_rule_referencing_a_group_is_described_with_its_description(aws, name, direction):
    rule, peer = _group_rule(aws, name, direction)
    assert (rule["Description"], rule["ReferencedGroupInfo"]["GroupId"]) == ("db", peer)


def test_a_cidr_rule_keeps_its_description(aws, name):
    ec2 = aws("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName=name, Description="app", VpcId=vpc)["GroupId"]
    rule = ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0", "Description": "web"}]}])
    rule_id = rule["SecurityGroupRules"][0]["SecurityGroupRuleId"]
    assert ec2.describe_security_group_rules(SecurityGroupRuleIds=[rule_id])["SecurityGroupRules"][0]["Description"] == "web"


# g. RDS Performance Insights

def _db_instance(aws, name, **extra):
    rds = aws("rds")
    rds.create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.t4g.micro", Engine="postgres",
                           MasterUsername="app_admin", MasterUserPassword="not-a-real-password",
                           AllocatedStorage=20, **extra)
    return rds


def _pi(rds, name):
    db = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]
    return {k: v for k, v in db.items() if k.startswith("PerformanceInsights")}


def test_performance_insights_given_at_create_are_described_as_given(aws, name):
    key = aws("kms").create_key()["KeyMetadata"]["Arn"]
    rds = _db_instance(aws, name, EnablePerformanceInsights=True, PerformanceInsightsKMSKeyId=key,
                       PerformanceInsightsRetentionPeriod=31)
    assert _pi(rds, name) == {"PerformanceInsightsEnabled": True, "PerformanceInsightsKMSKeyId": key,
                              "PerformanceInsightsRetentionPeriod": 31}


def test_performance_insights_key_id_is_described_as_the_key_arn(aws, name):
    key = aws("kms").create_key()["KeyMetadata"]
    rds = _db_instance(aws, name, EnablePerformanceInsights=True, PerformanceInsightsKMSKeyId=key["KeyId"])
    assert _pi(rds, name)["PerformanceInsightsKMSKeyId"] == key["Arn"]


def test_performance_insights_without_a_retention_keeps_seven_days(aws, name):
    rds = _db_instance(aws, name, EnablePerformanceInsights=True)
    assert _pi(rds, name)["PerformanceInsightsRetentionPeriod"] == 7


def test_an_instance_without_performance_insights_is_described_as_disabled(aws, name):
    rds = _db_instance(aws, name)
    assert _pi(rds, name) == {"PerformanceInsightsEnabled": False}


def test_modify_db_instance_turns_performance_insights_on_and_off(aws, name):
    rds = _db_instance(aws, name)
    rds.modify_db_instance(DBInstanceIdentifier=name, EnablePerformanceInsights=True, ApplyImmediately=True)
    enabled = _pi(rds, name)["PerformanceInsightsEnabled"]
    rds.modify_db_instance(DBInstanceIdentifier=name, EnablePerformanceInsights=False, ApplyImmediately=True)
    assert (enabled, _pi(rds, name)) == (True, {"PerformanceInsightsEnabled": False})


def test_modify_db_instance_without_the_flag_keeps_performance_insights(aws, name):
    rds = _db_instance(aws, name, EnablePerformanceInsights=True)
    rds.modify_db_instance(DBInstanceIdentifier=name, BackupRetentionPeriod=3, ApplyImmediately=True)
    assert _pi(rds, name)["PerformanceInsightsEnabled"] is True


# h. ECS CreateService settings

def test_create_service_settings_are_described_as_given(aws, name):
    ecs = _ecs_service(aws, name, healthCheckGracePeriodSeconds=60, enableECSManagedTags=True,
                       enableExecuteCommand=True, deploymentConfiguration={
                           "deploymentCircuitBreaker": {"enable": True, "rollback": True},
                           "maximumPercent": 200, "minimumHealthyPercent": 100})
    service = _described(ecs, name)
    assert {k: service.get(k) for k in ("healthCheckGracePeriodSeconds", "enableECSManagedTags",
                                        "enableExecuteCommand", "deploymentConfiguration")} == {
        "healthCheckGracePeriodSeconds": 60, "enableECSManagedTags": True, "enableExecuteCommand": True,
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": True, "rollback": True},
                                    "maximumPercent": 200, "minimumHealthyPercent": 100}}


def test_a_service_created_without_them_gets_the_aws_defaults(aws, name):
    service = _described(_ecs_service(aws, name), name)
    assert {k: service.get(k) for k in ("enableECSManagedTags", "enableExecuteCommand", "deploymentConfiguration")} == {
        "enableECSManagedTags": False, "enableExecuteCommand": False,
        "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": False, "rollback": False},
                                    "maximumPercent": 200, "minimumHealthyPercent": 100}}


def test_a_partial_deployment_configuration_is_completed_with_the_defaults(aws, name):
    ecs = _ecs_service(aws, name, deploymentConfiguration={"minimumHealthyPercent": 50})
    assert _described(ecs, name)["deploymentConfiguration"] == {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False}, "maximumPercent": 200,
        "minimumHealthyPercent": 50}


def test_update_service_still_changes_a_setting_given_at_create(aws, name):
    ecs = _ecs_service(aws, name, healthCheckGracePeriodSeconds=60)
    ecs.update_service(cluster=name, service=name, healthCheckGracePeriodSeconds=120)
    assert _described(ecs, name)["healthCheckGracePeriodSeconds"] == 120


# i. RDS-managed master user secret

def _managed_secret(aws, name):
    rds = aws("rds")
    rds.create_db_instance(DBInstanceIdentifier=name, DBInstanceClass="db.t4g.micro", Engine="postgres",
                           MasterUsername="app_admin", ManageMasterUserPassword=True, AllocatedStorage=20)
    arn = rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]["MasterUserSecret"]["SecretArn"]
    return json.loads(aws("secretsmanager").get_secret_value(SecretId=arn)["SecretString"])


def test_the_rds_managed_secret_holds_the_instance_master_username(aws, name):
    assert _managed_secret(aws, name)["username"] == "app_admin"


def test_each_rds_managed_secret_gets_its_own_password(aws, name):
    first, second = _managed_secret(aws, name), _managed_secret(aws, name + "b")
    assert first["password"] != second["password"] and len(first["password"]) >= 20


def test_the_rds_managed_password_avoids_the_characters_rds_refuses(aws, name):
    assert not set(_managed_secret(aws, name)["password"]) & set('/@" ')


# j. S3 notification: EventBridge

def test_eventbridge_notifications_are_described_once_turned_on(aws, name):
    s3 = aws("s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}})
    assert s3.get_bucket_notification_configuration(Bucket=name).get("EventBridgeConfiguration") == {}


def test_a_bucket_without_notifications_describes_no_eventbridge(aws, name):
    s3 = aws("s3")
    s3.create_bucket(Bucket=name)
    assert "EventBridgeConfiguration" not in s3.get_bucket_notification_configuration(Bucket=name)


# two patches on one moto function

def test_applying_every_patch_again_keeps_each_patched_function(emu):
    from moto.ecs.responses import EC2ContainerServiceResponse
    from moto.rds.models import DBInstance, MasterUserSecret
    from moto.s3.models import FakeBucket
    from moto.s3.responses import S3Response

    functions = lambda: (EC2ContainerServiceResponse.create_service, DBInstance.__init__,  # noqa: E731
                         MasterUserSecret._generate_secret_string, FakeBucket.get_permission,
                         S3Response.get_bucket_notification)
    before = functions()
    patches.apply_all()
    assert functions() == before


def test_a_created_service_carries_what_both_ecs_patches_store(aws, name):
    service = _described(_ecs_service(aws, name, healthCheckGracePeriodSeconds=60), name)
    assert (service["availabilityZoneRebalancing"], service["healthCheckGracePeriodSeconds"]) == ("ENABLED", 60)


# k. ELBv2 Scheme

def _load_balancer(aws, name, **extra):
    ec2, elb = aws("ec2"), aws("elbv2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"us-east-1{z}")["Subnet"]["SubnetId"]
               for i, z in ((1, "a"), (2, "b"))]
    arn = elb.create_load_balancer(Name=name, Subnets=subnets, **extra)["LoadBalancers"][0]["LoadBalancerArn"]
    return elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]


def test_a_load_balancer_created_without_a_scheme_is_internet_facing(aws, name):
    assert _load_balancer(aws, name)["Scheme"] == "internet-facing"


def test_an_internal_load_balancer_is_described_as_internal(aws, name):
    assert _load_balancer(aws, name, Scheme="internal")["Scheme"] == "internal"


# l. ECS RunTask on Fargate with awsvpc

def _fargate_task(aws, name, **container):
    ec2, ecs = aws("ec2"), aws("ecs")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]  # DNS hostnames off, as by default
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=name, Description="tasks", VpcId=vpc)["GroupId"]
    ecs.create_cluster(clusterName=name)
    arn = ecs.register_task_definition(
        family=name, networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256", memory="512",
        containerDefinitions=[{"name": "app", "image": "x", "essential": True, **container}])["taskDefinition"]["taskDefinitionArn"]
    return ecs.run_task(cluster=name, taskDefinition=arn, launchType="FARGATE", networkConfiguration={
        "awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}})["tasks"][0]


def test_a_fargate_task_with_memory_only_at_task_level_runs(aws, name):
    assert _fargate_task(aws, name)["launchType"] == "FARGATE"


def test_a_fargate_task_gets_the_private_dns_name_of_its_address(aws, name):
    details = {d["name"]: d["value"] for d in _fargate_task(aws, name, memory=256)["attachments"][0]["details"]}
    assert details["privateDnsName"] == f"ip-{details['privateIPv4Address'].replace('.', '-')}.ec2.internal"


# m. ELBv2 one listener per port

def _target_group(aws, name, vpc):
    return aws("elbv2").create_target_group(Name=name, Protocol="HTTP", Port=8000, VpcId=vpc,
                                            TargetType="ip")["TargetGroups"][0]["TargetGroupArn"]


def _listener(elb, balancer, target_group, port=80):
    return elb.create_listener(LoadBalancerArn=balancer, Protocol="HTTP", Port=port, DefaultActions=[
        {"Type": "forward", "TargetGroupArn": target_group}])["Listeners"][0]["ListenerArn"]


def test_creating_the_same_listener_again_returns_the_first_and_makes_no_second(aws, name):
    balancer = _load_balancer(aws, name)
    elb, group = aws("elbv2"), _target_group(aws, name, balancer["VpcId"])
    first = _listener(elb, balancer["LoadBalancerArn"], group)
    assert _listener(elb, balancer["LoadBalancerArn"], group) == first  # a provider retry
    listeners = elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    assert [(l["ListenerArn"], l["Port"]) for l in listeners] == [(first, 80)]


def test_a_listener_with_other_settings_on_a_used_port_is_a_duplicate_listener(aws, name):
    balancer = _load_balancer(aws, name)
    elb, group = aws("elbv2"), _target_group(aws, name, balancer["VpcId"])
    _listener(elb, balancer["LoadBalancerArn"], group)
    with pytest.raises(ClientError) as refused:
        elb.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80, DefaultActions=[
            {"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "404"}}])
    assert refused.value.response["Error"]["Code"] == "DuplicateListener"
    assert len(elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]) == 1


def test_listeners_on_two_ports_are_two_listeners(aws, name):
    balancer = _load_balancer(aws, name)
    elb, group = aws("elbv2"), _target_group(aws, name, balancer["VpcId"])
    ports = {_listener(elb, balancer["LoadBalancerArn"], group, port): port for port in (80, 8080)}
    assert sorted(ports.values()) == [80, 8080] and len(ports) == 2


# n. Application Auto Scaling keeps an ECS service's task count within the target's bounds

def _desired(aws, name) -> int:
    return _described(aws("ecs"), name)["desiredCount"]


def _bounds(aws, name, low, high):
    aws("application-autoscaling").register_scalable_target(
        ServiceNamespace="ecs", ResourceId=f"service/{name}/{name}", ScalableDimension="ecs:service:DesiredCount",
        MinCapacity=low, MaxCapacity=high)


def test_a_service_at_zero_tasks_gets_the_minimum_when_its_scalable_target_is_registered(aws, name):
    _ecs_service(aws, name, desiredCount=0)
    _bounds(aws, name, 2, 6)
    assert _desired(aws, name) == 2


@pytest.mark.parametrize("before, low, high, after", [(3, 5, 8, 5), (5, 1, 2, 2), (3, 2, 6, 3)])
def test_registering_new_bounds_moves_the_task_count_into_them_and_only_then(aws, name, before, low, high, after):
    _ecs_service(aws, name, desiredCount=before)
    _bounds(aws, name, low, high)
    assert _desired(aws, name) == after


# o. CloudWatch Logs PutMetricFilter replaces a filter of the same name

def _metric_filter(logs, group, pattern):
    logs.put_metric_filter(logGroupName=group, filterName="errors", filterPattern=pattern, metricTransformations=[
        {"metricName": "AppErrors", "metricNamespace": "app", "metricValue": "1"}])


def test_putting_a_metric_filter_again_replaces_it_and_deleting_it_leaves_none(aws, name):
    logs = aws("logs")
    logs.create_log_group(logGroupName=name)
    _metric_filter(logs, name, '{ $.level = "ERROR" }')
    _metric_filter(logs, name, '{ $.level = "CRITICAL" }')
    assert [f["filterPattern"] for f in logs.describe_metric_filters(logGroupName=name)["metricFilters"]] == [
        '{ $.level = "CRITICAL" }']
    logs.delete_metric_filter(logGroupName=name, filterName="errors")
    assert logs.describe_metric_filters(logGroupName=name)["metricFilters"] == []


# p. CloudWatch Logs query definitions

def test_a_query_definition_is_created_read_updated_and_deleted(aws, name):
    logs = aws("logs")
    made = logs.put_query_definition(name=f"{name}/errors", queryString="fields @message", logGroupNames=["/g"])
    found = logs.describe_query_definitions(queryDefinitionNamePrefix=f"{name}/")["queryDefinitions"]
    assert [(d["queryDefinitionId"], d["queryString"], d["logGroupNames"]) for d in found] == [
        (made["queryDefinitionId"], "fields @message", ["/g"])]
    logs.put_query_definition(name=f"{name}/errors", queryString="fields @timestamp", logGroupNames=["/g"],
                              queryDefinitionId=made["queryDefinitionId"])
    (updated,) = logs.describe_query_definitions(queryDefinitionNamePrefix=f"{name}/")["queryDefinitions"]
    assert (updated["queryDefinitionId"], updated["queryString"]) == (made["queryDefinitionId"], "fields @timestamp")
    assert logs.delete_query_definition(queryDefinitionId=made["queryDefinitionId"])["success"] is True
    assert logs.describe_query_definitions(queryDefinitionNamePrefix=f"{name}/")["queryDefinitions"] == []


def test_an_unknown_query_definition_is_not_found(aws, name):
    logs = aws("logs")
    for call in (lambda: logs.delete_query_definition(queryDefinitionId="nope"),
                 lambda: logs.put_query_definition(name=name, queryString="x", queryDefinitionId="nope")):
        with pytest.raises(ClientError) as error:
            call()
        assert error.value.response["Error"]["Code"] == "ResourceNotFoundException"
