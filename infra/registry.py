"""ContainerRegistry: the ECR repository for the app image, with scanning, immutable tags and a lifecycle."""
from __future__ import annotations

import json

from constructs import Construct
from cdktf_cdktf_provider_aws.ecr_lifecycle_policy import EcrLifecyclePolicy
from cdktf_cdktf_provider_aws.ecr_repository import (
    EcrRepository, EcrRepositoryEncryptionConfiguration, EcrRepositoryImageScanningConfiguration,
)

from infra.config import RegistryConfig
from infra.encryption import EncryptionKey


class ContainerRegistry(Construct):
    """One private repository. A tag, once pushed, always names the same image."""

    def __init__(self, scope: Construct, id: str, *, name: str, config: RegistryConfig, key: EncryptionKey) -> None:
        super().__init__(scope, id)
        self.repository = EcrRepository(
            self, "repository", name=f"{name}/app",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration=EcrRepositoryImageScanningConfiguration(scan_on_push=True),
            encryption_configuration=[EcrRepositoryEncryptionConfiguration(encryption_type="KMS", kms_key=key.arn)],
            force_delete=config.force_delete,
        )
        rules = [
            {"rulePriority": 1, "description": f"Expire untagged images after {config.untagged_expiry_days} days",
             "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days",
                           "countNumber": config.untagged_expiry_days},
             "action": {"type": "expire"}},
            {"rulePriority": 2, "description": f"Keep the last {config.keep_last_images} images",
             "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
                           "countNumber": config.keep_last_images},
             "action": {"type": "expire"}},
        ]
        EcrLifecyclePolicy(self, "lifecycle", repository=self.repository.name, policy=json.dumps({"rules": rules}))

    @property
    def url(self) -> str:
        return self.repository.repository_url

    @property
    def arn(self) -> str:
        return self.repository.arn
