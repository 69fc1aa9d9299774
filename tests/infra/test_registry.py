"""ContainerRegistry: one scanned, immutable, encrypted repository with a lifecycle."""
import json


def test_repository_scans_on_push_has_immutable_tags_and_is_encrypted_with_the_stack_key(app_stack):
    repo = app_stack.one("aws_ecr_repository")
    assert repo["image_scanning_configuration"] == {"scan_on_push": True}
    assert repo["image_tag_mutability"] == "IMMUTABLE"
    assert repo["encryption_configuration"] == [
        {"encryption_type": "KMS", "kms_key": app_stack.ref("aws_kms_key", "key", "arn")}]


def test_lifecycle_keeps_the_last_images_and_expires_untagged_ones(app_stack):
    policy, config = app_stack.one("aws_ecr_lifecycle_policy"), app_stack.config.registry
    assert policy["repository"] == app_stack.ref("aws_ecr_repository", "repository", "name")
    rules = json.loads(policy["policy"])["rules"]
    assert [r["selection"] for r in rules] == [
        {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
         "countNumber": config.untagged_expiry_days},
        {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": config.keep_last_images},
    ]
    assert all(r["action"] == {"type": "expire"} for r in rules)


def test_only_its_named_setting_lets_destroy_delete_a_repository_that_holds_images(weakened, variant):
    assert weakened.one("aws_ecr_repository")["force_delete"] is True
    assert variant.one("aws_ecr_repository")["force_delete"] is False


def test_each_environment_s_repository_is_named_and_deletable_as_configured(env_stack):
    repo = env_stack.one("aws_ecr_repository")
    assert repo["name"] == f"{env_stack.config.prefix}/app"
    assert repo["force_delete"] is env_stack.config.registry.force_delete
