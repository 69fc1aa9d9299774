"""Small, documented patches to moto 5.2.5 for gaps the hashicorp/aws Terraform
provider (5.100.0) hits when deploying this stack.

Each patch has:
  * a comment saying what real AWS returns,
  * an ``apply_*`` function that is idempotent (a second call is a no-op),
  * a check that the moto internals it touches still exist.  If moto changed
    (upgrade), the check raises :class:`PatchError` naming the patch, so the
    upgrade is noticed instead of silently serving wrong answers.

Call :func:`apply_all` in-process before the server starts serving.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from typing import Any, Callable

MARK = "_emulator_patch"


class PatchError(RuntimeError):
    """moto's internals no longer match what a patch expects."""


def _require(patch: str, obj: Any, *attrs: str) -> None:
    for attr in attrs:
        if not hasattr(obj, attr):
            raise PatchError(
                f"[emulator patch {patch}] moto internals changed: "
                f"{getattr(obj, '__qualname__', obj)!r} has no attribute {attr!r}. "
                "Review emulator/patches.py against the installed moto version."
            )


def _is_patched(func: Any, patch: str) -> bool:
    return getattr(func, MARK, None) == patch


def _mark(func: Callable[..., Any], patch: str) -> Callable[..., Any]:
    setattr(func, MARK, patch)
    return func


# ---------------------------------------------------------------------------
# a. Application Auto Scaling tagging
#
# Real AWS: ListTagsForResource(ResourceARN) -> {"Tags": {"k": "v", ...}};
# TagResource(ResourceARN, Tags={...}) -> {}; UntagResource(ResourceARN,
# TagKeys=[...]) -> {}; an ARN that names no scalable target ->
# ResourceNotFoundException.  RegisterScalableTarget(Tags={...}) tags a target
# when it is created.
# moto 5.2.5: none of the three actions exist (NotImplementedError -> HTTP 500,
# which the provider retries for many minutes) and RegisterScalableTarget
# ignores Tags.
# ---------------------------------------------------------------------------
PATCH_AAS_TAGS = "a-applicationautoscaling-tags"


def _aas_tag_store(backend: Any) -> dict[str, dict[str, str]]:
    # Stored on the backend instance, so moto's /moto-api/reset clears it too.
    store = getattr(backend, "_emulator_tags", None)
    if store is None:
        store = {}
        backend._emulator_tags = store
    return store


def _aas_target_exists(backend: Any, arn: str) -> bool:
    return any(
        t.arn == arn for by_id in backend.targets.values() for t in by_id.values()
    )


def apply_applicationautoscaling_tags() -> None:
    from moto.applicationautoscaling import models, responses
    from moto.core.exceptions import JsonRESTError

    cls = responses.ApplicationAutoScalingResponse
    _require(PATCH_AAS_TAGS, cls, "register_scalable_target", "_get_param",
             "applicationautoscaling_backend")
    _require(PATCH_AAS_TAGS, models.ApplicationAutoscalingBackend, "register_scalable_target")
    if _is_patched(cls.register_scalable_target, PATCH_AAS_TAGS):
        return
    for native in ("list_tags_for_resource", "tag_resource", "untag_resource"):
        if hasattr(cls, native):
            raise PatchError(
                f"[emulator patch {PATCH_AAS_TAGS}] moto now implements {native} "
                "natively; check it and remove this patch from emulator/patches.py."
            )

    def _arn_or_404(self: Any) -> tuple[dict[str, dict[str, str]], str]:
        backend = self.applicationautoscaling_backend
        arn = self._get_param("ResourceARN")
        if not arn or not _aas_target_exists(backend, arn):
            raise JsonRESTError(
                "ResourceNotFoundException",
                f"No scalable target found for ARN: {arn}",
            )
        return _aas_tag_store(backend), arn

    def list_tags_for_resource(self: Any) -> str:
        store, arn = _arn_or_404(self)
        return json.dumps({"Tags": dict(store.get(arn, {}))})

    def tag_resource(self: Any) -> str:
        store, arn = _arn_or_404(self)
        store.setdefault(arn, {}).update(self._get_param("Tags") or {})
        return json.dumps({})

    def untag_resource(self: Any) -> str:
        store, arn = _arn_or_404(self)
        tags = store.setdefault(arn, {})
        for key in self._get_param("TagKeys") or []:
            tags.pop(key, None)
        return json.dumps({})

    original_register = cls.register_scalable_target

    @functools.wraps(original_register)
    def register_scalable_target(self: Any) -> str:
        body = original_register(self)
        arn = json.loads(body)["ScalableTargetARN"]
        store = _aas_tag_store(self.applicationautoscaling_backend)
        if arn not in store:  # newly created target: Tags apply on create only
            store[arn] = dict(self._get_param("Tags") or {})
        return body

    cls.list_tags_for_resource = list_tags_for_resource
    cls.tag_resource = tag_resource
    cls.untag_resource = untag_resource
    cls.register_scalable_target = _mark(register_scalable_target, PATCH_AAS_TAGS)


# ---------------------------------------------------------------------------
# b. RDS DescribeDBParameters "Source"
#
# Real AWS: every Parameter carries Source ("user" for parameters changed with
# ModifyDBParameterGroup, else "system"/"engine-default"), and
# DescribeDBParameters(Source="user") returns only user-modified parameters.
# moto 5.2.5: stores the raw ModifyDBParameterGroup items (no Source) and
# ignores the Source filter.  The provider drops parameters without Source when
# reading, so the aws_db_parameter_group shows a change on every plan.
# ---------------------------------------------------------------------------
PATCH_RDS_SOURCE = "b-rds-parameter-source"


def apply_rds_parameter_source() -> None:
    from moto.rds import models, responses

    group_cls = models.DBParameterGroup
    resp_cls = responses.RDSResponse
    _require(PATCH_RDS_SOURCE, group_cls, "update_parameters")
    _require(PATCH_RDS_SOURCE, resp_cls, "describe_db_parameters", "modify_db_parameter_group")
    if _is_patched(resp_cls.describe_db_parameters, PATCH_RDS_SOURCE):
        return

    original_update = group_cls.update_parameters

    @functools.wraps(original_update)
    def update_parameters(self: Any, new_parameters: Any) -> None:
        new_parameters = list(new_parameters)
        original_update(self, new_parameters)
        for p in new_parameters:
            self.parameters[p["ParameterName"]]["Source"] = "user"

    original_describe = resp_cls.describe_db_parameters

    @functools.wraps(original_describe)
    def describe_db_parameters(self: Any) -> Any:
        result = original_describe(self)
        payload = getattr(result, "result", None)
        if not isinstance(payload, dict) or "Parameters" not in payload:
            raise PatchError(
                f"[emulator patch {PATCH_RDS_SOURCE}] moto internals changed: "
                "describe_db_parameters no longer returns ActionResult({'Parameters': ...})."
            )
        params = list(payload["Parameters"])
        source = self.params.get("Source")
        if source:
            params = [p for p in params if p.get("Source") == source]
        payload["Parameters"] = params
        return result

    group_cls.update_parameters = _mark(update_parameters, PATCH_RDS_SOURCE)
    resp_cls.describe_db_parameters = _mark(describe_db_parameters, PATCH_RDS_SOURCE)


# ---------------------------------------------------------------------------
# c. ECS availabilityZoneRebalancing
#
# Real AWS: DescribeServices returns availabilityZoneRebalancing as given to
# CreateService/UpdateService.  CreateService without it defaults to ENABLED
# for services compatible with rebalancing (since 2025; DISABLED for DAEMON),
# UpdateService without it keeps the current value.
# moto 5.2.5: CreateService drops the field, so DescribeServices omits it and
# the aws_ecs_service shows a change on every plan.  (moto's UpdateService
# already setattr()s every given field onto the Service, so update echoes.)
# ---------------------------------------------------------------------------
PATCH_ECS_AZ = "c-ecs-availability-zone-rebalancing"


def apply_ecs_availability_zone_rebalancing() -> None:
    from moto.ecs import models, responses

    resp_cls = responses.EC2ContainerServiceResponse
    _require(PATCH_ECS_AZ, resp_cls, "create_service", "update_service", "_get_param")
    _require(PATCH_ECS_AZ, models, "Service")
    if _is_patched(resp_cls.create_service, PATCH_ECS_AZ):
        return
    if "availability_zone_rebalancing" in inspect.signature(models.Service.__init__).parameters:
        raise PatchError(
            f"[emulator patch {PATCH_ECS_AZ}] moto now models availability_zone_rebalancing "
            "natively; check it and remove this patch from emulator/patches.py."
        )

    original_create = resp_cls.create_service

    @functools.wraps(original_create)
    def create_service(self: Any) -> Any:
        result = original_create(self)
        service = getattr(result, "result", {}).get("service")
        if not isinstance(service, models.Service):
            raise PatchError(
                f"[emulator patch {PATCH_ECS_AZ}] moto internals changed: "
                "create_service no longer returns ActionResult({'service': Service})."
            )
        value = self._get_param("availabilityZoneRebalancing")
        if value is None:
            value = "DISABLED" if service.scheduling_strategy == "DAEMON" else "ENABLED"
        service.availability_zone_rebalancing = value
        return result

    resp_cls.create_service = _mark(create_service, PATCH_ECS_AZ)


# ---------------------------------------------------------------------------
# d. IAM AWS-managed policies (a moto setting, not a code patch)
#
# Real AWS: arn:aws:iam::aws:policy/... (e.g. service-role/
# AmazonRDSEnhancedMonitoringRole, attached by infra/database.py) always exist.
# moto 5.2.5: loads them only when MOTO_IAM_LOAD_MANAGED_POLICIES=true
# (moto/settings.py load_iam_aws_managed_policies, read when an account's IAM
# backend is created); otherwise AttachRolePolicy fails with NoSuchEntity and
# the deploy stops.  An explicit value in the environment is respected.
# ---------------------------------------------------------------------------
PATCH_IAM_MANAGED = "d-iam-aws-managed-policies"


def apply_iam_aws_managed_policies() -> None:
    from moto import settings
    from moto.iam import models

    _require(PATCH_IAM_MANAGED, settings, "load_iam_aws_managed_policies")
    _require(PATCH_IAM_MANAGED, models.IAMBackend, "_init_aws_policies")
    _require(PATCH_IAM_MANAGED, models.iam_backends, "iter_backends")
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    if not settings.load_iam_aws_managed_policies():
        return  # explicitly turned off by the user
    # IAM backends created earlier in this process (moto used in-process before
    # the emulator started) were built without them: load them there too.
    for _account, _partition, backend in models.iam_backends.iter_backends():
        if not backend.aws_managed_policies:
            backend.aws_managed_policies = backend._init_aws_policies()
            for policy in backend.aws_managed_policies:
                backend.managed_policies.setdefault(policy.arn, policy)


ALL_PATCHES: dict[str, Callable[[], None]] = {
    PATCH_AAS_TAGS: apply_applicationautoscaling_tags,
    PATCH_RDS_SOURCE: apply_rds_parameter_source,
    PATCH_ECS_AZ: apply_ecs_availability_zone_rebalancing,
    PATCH_IAM_MANAGED: apply_iam_aws_managed_policies,
}


def apply_all() -> list[str]:
    """Apply every patch (idempotent). Returns the patch names."""
    for apply in ALL_PATCHES.values():
        apply()
    return list(ALL_PATCHES)
