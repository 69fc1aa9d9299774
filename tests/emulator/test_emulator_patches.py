"""Each patch in emulator/patches.py makes moto answer as real AWS does."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from emulator import PatchError, patches

ECS_DIMENSION = "ecs:service:DesiredCount"


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
        cluster=name, serviceName=name, taskDefinition=name, desiredCount=1, launchType="FARGATE",
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
    patches.apply_iam_aws_managed_policies()
    assert "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole" in backend.managed_policies


# the patch mechanism

def test_applying_the_patches_again_changes_nothing(emu):
    from moto.ecs.responses import EC2ContainerServiceResponse
    from moto.rds.responses import RDSResponse

    before = (EC2ContainerServiceResponse.create_service, RDSResponse.describe_db_parameters)
    patches.apply_all()
    assert (EC2ContainerServiceResponse.create_service, RDSResponse.describe_db_parameters) == before


def test_a_patch_whose_moto_target_is_gone_fails_loudly_naming_the_patch(monkeypatch):
    from moto.rds.models import DBParameterGroup

    monkeypatch.delattr(DBParameterGroup, "update_parameters")
    with pytest.raises(PatchError, match=patches.PATCH_RDS_SOURCE):
        patches.apply_rds_parameter_source()

