"""The emulator's request record (emulator/record.py): every request it answers, one JSON line each, with what
AWS authorizes a call on (signing service, region, access key, target or form body, S3 encryption headers) and
who the driver says is calling; the label call itself is answered by the recorder and never recorded."""
from __future__ import annotations

import boto3
import pytest

from emulator import Emulator
from emulator.record import read, set_label


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    path = tmp_path_factory.mktemp("record") / "requests.jsonl"
    with Emulator(port=0, record=path) as emu:
        yield emu, path


def client(emu, service: str, key: str = "ci-plan"):
    return boto3.client(service, endpoint_url=emu.endpoint, region_name="eu-west-1", aws_access_key_id=key,
                        aws_secret_access_key=key)


def test_each_call_is_recorded_with_its_service_region_key_target_and_parameters(recording):
    emu, path = recording
    set_label(emu.endpoint, "plan")
    client(emu, "ecs").list_clusters(maxResults=5)
    client(emu, "rds").describe_db_instances(Filters=[{"Name": "dbi-resource-id", "Values": ["db-1"]}])
    ecs, rds = read(path)[-2:]
    assert (ecs["service"], ecs["region"], ecs["key"], ecs["label"], ecs["target"], ecs["body"]) == (
        "ecs", "eu-west-1", "ci-plan", "plan", "AmazonEC2ContainerServiceV20141113.ListClusters", '{"maxResults": 5}')
    assert rds["service"] == "rds" and "Action=DescribeDBInstances" in rds["body"] and rds["status"] == 200


def test_s3_encryption_headers_of_the_request_and_the_answer_are_recorded_but_not_the_object(recording):
    emu, path = recording
    s3 = client(emu, "s3", key="ci-deploy")
    s3.create_bucket(Bucket="state", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="state", Key="dev/terraform.tfstate", Body=b'{"secret": "not recorded"}',
                  ServerSideEncryption="aws:kms", SSEKMSKeyId="alias/tfstate")
    s3.get_object(Bucket="state", Key="dev/terraform.tfstate")
    put, get = read(path)[-2:]
    assert (put["method"], put["path"], put["sse"]["x-amz-server-side-encryption"], put["body"]) == (
        "PUT", "/state/dev/terraform.tfstate", "aws:kms", "")
    assert get["response_sse"]["x-amz-server-side-encryption"] == "aws:kms"
    assert "not recorded" not in path.read_text()


def test_the_label_call_is_answered_by_the_recorder_and_not_recorded(recording):
    emu, path = recording
    before = len(read(path))
    set_label(emu.endpoint, "deploy:dev")
    set_label(emu.endpoint, "admin")
    after = read(path)
    assert len(after) == before and not any("_record" in r["path"] for r in after)


def test_without_a_record_file_nothing_is_recorded(tmp_path):
    with Emulator(port=0) as emu:
        client(emu, "ecs").list_clusters()
    assert emu.record is None and list(tmp_path.iterdir()) == []
