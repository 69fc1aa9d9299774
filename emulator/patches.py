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


def _marks(func: Any) -> frozenset[str]:
    marks = getattr(func, MARK, None)
    if marks is None:
        return frozenset()
    return frozenset([marks]) if isinstance(marks, str) else frozenset(marks)


def _is_patched(func: Any, patch: str) -> bool:
    return patch in _marks(func)


def _mark(func: Callable[..., Any], patch: str) -> Callable[..., Any]:
    # A set: two patches may wrap the same moto function (functools.wraps copies
    # the inner wrapper's marks), and each must still see that it is applied.
    setattr(func, MARK, _marks(func) | {patch})
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


def _after_create_service(resp_cls: Any, models: Any, patch: str, store: Callable[[Any, Any], None]) -> None:
    """Wrap moto's ECS CreateService so that `store(response, service)` records what moto dropped."""
    original_create = resp_cls.create_service

    @functools.wraps(original_create)
    def create_service(self: Any) -> Any:
        result = original_create(self)
        service = getattr(result, "result", {}).get("service")
        if not isinstance(service, models.Service):
            raise PatchError(
                f"[emulator patch {patch}] moto internals changed: "
                "create_service no longer returns ActionResult({'service': Service})."
            )
        store(self, service)
        return result

    resp_cls.create_service = _mark(create_service, patch)


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

    def store_rebalancing(response: Any, service: Any) -> None:
        value = response._get_param("availabilityZoneRebalancing")
        if value is None:
            value = "DISABLED" if service.scheduling_strategy == "DAEMON" else "ENABLED"
        service.availability_zone_rebalancing = value

    _after_create_service(resp_cls, models, PATCH_ECS_AZ, store_rebalancing)


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


# ---------------------------------------------------------------------------
# e. S3 bucket policies: the aws:SecureTransport condition
#
# Real AWS: a bucket-policy statement with Condition {"Bool":
# {"aws:SecureTransport": "false"}} applies only to requests made without TLS.
# Every AWS SDK, the Terraform provider and its S3 backend call AWS over HTTPS,
# so a "deny insecure transport" statement (infra/stacks.py, the state bucket)
# never matches them.
# moto 5.2.5: ignores condition operators it does not know (Bool among them)
# and treats the condition as met, so that Deny matches every object request:
# HeadObject/GetObject/PutObject on the state bucket answer 403 and
# `terraform init` with the S3 backend fails.  The emulator serves plain HTTP
# on loopback only, standing in for the HTTPS endpoint: it evaluates
# aws:SecureTransport as "true", as AWS would for the same client.
# ---------------------------------------------------------------------------
PATCH_S3_SECURE_TRANSPORT = "e-s3-policy-secure-transport"
SECURE_TRANSPORT_KEY = "aws:securetransport"


def _secure_transport_holds(statement: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    """(does the statement apply to a TLS request, the statement without that condition)."""
    condition = statement.get("Condition")
    if not isinstance(condition, dict):
        return True, statement
    holds = True
    rest: dict[str, Any] = {}
    for operator, pairs in condition.items():
        if operator.lower() not in ("bool", "boolifexists") or not isinstance(pairs, dict):
            rest[operator] = pairs
            continue
        kept = {}
        for key, expected in pairs.items():
            if key.lower() != SECURE_TRANSPORT_KEY:
                kept[key] = expected
                continue
            values = expected if isinstance(expected, list) else [expected]
            holds = holds and any(str(v).lower() == "true" for v in values)
        if kept:
            rest[operator] = kept
    stripped = {k: v for k, v in statement.items() if k != "Condition"}
    if rest:
        stripped["Condition"] = rest
    return holds, stripped


def apply_s3_policy_secure_transport() -> None:
    from moto.iam import access_control
    from moto.s3 import models

    bucket_cls = models.FakeBucket
    _require(PATCH_S3_SECURE_TRANSPORT, bucket_cls, "get_permission")
    _require(PATCH_S3_SECURE_TRANSPORT, access_control, "IAMPolicy", "PermissionResult")
    if _is_patched(bucket_cls.get_permission, PATCH_S3_SECURE_TRANSPORT):
        return
    params = list(inspect.signature(bucket_cls.get_permission).parameters)
    if params != ["self", "action", "resource"]:
        raise PatchError(
            f"[emulator patch {PATCH_S3_SECURE_TRANSPORT}] moto internals changed: "
            f"FakeBucket.get_permission takes {params}, expected (self, action, resource)."
        )
    original = bucket_cls.get_permission

    @functools.wraps(original)
    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return original(self, action, resource)
        policy = self.policy.decode() if isinstance(self.policy, bytes) else self.policy
        document = json.loads(policy)
        statements = document.get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        applicable = []
        for statement in statements:
            holds, stripped = _secure_transport_holds(statement)
            if holds:
                applicable.append(stripped)
        if not applicable:
            return access_control.PermissionResult.NEUTRAL
        evaluated = access_control.IAMPolicy(json.dumps({**document, "Statement": applicable}))
        return evaluated.is_action_permitted(action, resource)

    bucket_cls.get_permission = _mark(get_permission, PATCH_S3_SECURE_TRANSPORT)


# ---------------------------------------------------------------------------
# f. EC2 DescribeSecurityGroupRules: descriptions of group-referencing rules
#
# Real AWS: every security group rule carries the Description it was created
# with, whether it names a CIDR block or another security group
# (AuthorizeSecurityGroupIngress/Egress with UserIdGroupPairs[].Description).
# moto 5.2.5: SecurityGroupRule.description reads only the CIDR range's
# Description; for a rule that references a group it stores the Description
# in the group pair and DescribeSecurityGroupRules leaves it out, so every
# aws_vpc_security_group_*_rule with referenced_security_group_id shows
# `+ description` on every plan.
# ---------------------------------------------------------------------------
PATCH_EC2_RULE_DESCRIPTION = "f-ec2-referenced-group-rule-description"


def apply_ec2_referenced_group_rule_description() -> None:
    from moto.ec2.models import security_groups

    rule_cls = security_groups.SecurityGroupRule
    _require(PATCH_EC2_RULE_DESCRIPTION, rule_cls, "description", "__init__")
    prop = inspect.getattr_static(rule_cls, "description")
    if not isinstance(prop, property) or prop.fget is None:
        raise PatchError(
            f"[emulator patch {PATCH_EC2_RULE_DESCRIPTION}] moto internals changed: "
            "SecurityGroupRule.description is no longer a property."
        )
    if _is_patched(prop.fget, PATCH_EC2_RULE_DESCRIPTION):
        return
    params = inspect.signature(rule_cls.__init__).parameters
    if "source_group" not in params or "ip_range" not in params:
        raise PatchError(
            f"[emulator patch {PATCH_EC2_RULE_DESCRIPTION}] moto internals changed: "
            "SecurityGroupRule no longer takes ip_range and source_group."
        )
    original = prop.fget

    @functools.wraps(original)
    def description(self: Any) -> str | None:
        found = original(self)
        if found is None and getattr(self, "source_group", None):
            found = self.source_group.get("Description")
        return found

    rule_cls.description = property(_mark(description, PATCH_EC2_RULE_DESCRIPTION))


# ---------------------------------------------------------------------------
# g. RDS Performance Insights
#
# Real AWS: CreateDBInstance/ModifyDBInstance(EnablePerformanceInsights=true,
# PerformanceInsightsKMSKeyId, PerformanceInsightsRetentionPeriod) ->
# DescribeDBInstances returns PerformanceInsightsEnabled=true, the key as an
# ARN (the account's aws/rds key when none is given) and the retention period
# (7 days when none is given).  Disabled: PerformanceInsightsEnabled=false and
# neither of the other two.
# moto 5.2.5: DBInstance takes the parameters in **kwargs and drops them;
# DescribeDBInstances always says false, so an aws_db_instance with
# performance_insights_enabled = true shows a change on every plan.
# ---------------------------------------------------------------------------
PATCH_RDS_PERFORMANCE_INSIGHTS = "g-rds-performance-insights"
PI_DEFAULT_RETENTION_DAYS = 7


def _pi_key_arn(instance: Any, key_id: str | None) -> str:
    if key_id and key_id.startswith("arn:"):
        return key_id
    if key_id:  # a key id or alias: RDS reports the key's ARN
        try:
            return str(instance.backend.kms.describe_key(key_id).arn)
        except Exception:  # noqa: BLE001 - unknown key: keep what was given
            return key_id
    return f"arn:aws:kms:{instance.region}:{instance.account_id}:alias/aws/rds"


def _pi_set(instance: Any, enabled: Any, key_id: Any, retention: Any) -> None:
    if enabled is None:  # ModifyDBInstance without the flag keeps the current setting
        enabled = getattr(instance, "performance_insights_enabled", False)
    enabled = str(enabled).lower() == "true"
    instance.performance_insights_enabled = enabled
    if not enabled:
        instance.performance_insights_kms_key_id = None
        instance.performance_insights_retention_period = None
        return
    current_key = getattr(instance, "performance_insights_kms_key_id", None)
    instance.performance_insights_kms_key_id = (
        _pi_key_arn(instance, key_id) if key_id or not current_key else current_key)
    current_days = getattr(instance, "performance_insights_retention_period", None)
    instance.performance_insights_retention_period = int(
        retention or current_days or PI_DEFAULT_RETENTION_DAYS)


def apply_rds_performance_insights() -> None:
    from moto.rds import models

    cls = models.DBInstance
    _require(PATCH_RDS_PERFORMANCE_INSIGHTS, cls, "__init__", "update", "region", "account_id")
    if _is_patched(cls.__init__, PATCH_RDS_PERFORMANCE_INSIGHTS):
        return
    for attr in ("performance_insights_enabled", "performance_insights_kms_key_id"):
        if hasattr(cls, attr) or attr in inspect.signature(cls.__init__).parameters:
            raise PatchError(
                f"[emulator patch {PATCH_RDS_PERFORMANCE_INSIGHTS}] moto now models {attr} "
                "natively; check it and remove this patch from emulator/patches.py."
            )
    original_init = cls.__init__
    original_update = cls.update

    @functools.wraps(original_init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        enabled = kwargs.pop("enable_performance_insights", False)
        # RestoreDBInstance* rebuild an instance from another one's attributes.
        enabled = kwargs.pop("performance_insights_enabled", None) or enabled
        key_id = kwargs.pop("performance_insights_kms_key_id", None)
        retention = kwargs.pop("performance_insights_retention_period", None)
        original_init(self, *args, **kwargs)
        _pi_set(self, enabled, key_id, retention)

    @functools.wraps(original_update)
    def update(self: Any, *args: Any, **kwargs: Any) -> None:
        enabled = kwargs.pop("enable_performance_insights", None)
        key_id = kwargs.pop("performance_insights_kms_key_id", None)
        retention = kwargs.pop("performance_insights_retention_period", None)
        original_update(self, *args, **kwargs)
        if enabled is not None or key_id is not None or retention is not None:
            _pi_set(self, enabled, key_id, retention)

    cls.__init__ = _mark(__init__, PATCH_RDS_PERFORMANCE_INSIGHTS)
    cls.update = _mark(update, PATCH_RDS_PERFORMANCE_INSIGHTS)


# ---------------------------------------------------------------------------
# h. ECS CreateService settings
#
# Real AWS: DescribeServices returns what CreateService was given for
# healthCheckGracePeriodSeconds, enableECSManagedTags (default false),
# enableExecuteCommand (default false) and deploymentConfiguration, the latter
# completed with its defaults (maximumPercent 200, minimumHealthyPercent 100
# for a REPLICA service, 100/0 for DAEMON; deploymentCircuitBreaker
# enable/rollback false).
# moto 5.2.5: CreateService drops all four (UpdateService does store them), so
# the aws_ecs_service shows a change on the first plan after it is created.
# ---------------------------------------------------------------------------
PATCH_ECS_CREATE_SETTINGS = "h-ecs-create-service-settings"


def _deployment_configuration(given: Any, scheduling_strategy: str) -> dict[str, Any]:
    daemon = scheduling_strategy == "DAEMON"
    result: dict[str, Any] = {
        "deploymentCircuitBreaker": {"enable": False, "rollback": False},
        "maximumPercent": 100 if daemon else 200,
        "minimumHealthyPercent": 0 if daemon else 100,
    }
    for key, value in (given or {}).items():
        if key == "deploymentCircuitBreaker" and isinstance(value, dict):
            result[key] = {**result[key], **value}
        else:
            result[key] = value
    return result


def apply_ecs_create_service_settings() -> None:
    from moto.ecs import models, responses

    resp_cls = responses.EC2ContainerServiceResponse
    _require(PATCH_ECS_CREATE_SETTINGS, resp_cls, "create_service", "_get_param")
    _require(PATCH_ECS_CREATE_SETTINGS, models, "Service")
    if _is_patched(resp_cls.create_service, PATCH_ECS_CREATE_SETTINGS):
        return
    native = {"health_check_grace_period_seconds", "enable_ecs_managed_tags",
              "enable_execute_command", "deployment_configuration"}
    found = native & set(inspect.signature(models.Service.__init__).parameters)
    if found:
        raise PatchError(
            f"[emulator patch {PATCH_ECS_CREATE_SETTINGS}] moto now models {sorted(found)} "
            "natively; check it and remove this part of emulator/patches.py."
        )

    def store_settings(response: Any, service: Any) -> None:
        grace = response._get_param("healthCheckGracePeriodSeconds")
        if grace is not None:
            service.health_check_grace_period_seconds = int(grace)
        service.enable_ecs_managed_tags = bool(response._get_param("enableECSManagedTags", False))
        service.enable_execute_command = bool(response._get_param("enableExecuteCommand", False))
        if service.deployment_controller.get("type", "ECS") == "ECS":
            service.deployment_configuration = _deployment_configuration(
                response._get_param("deploymentConfiguration"), service.scheduling_strategy)

    _after_create_service(resp_cls, models, PATCH_ECS_CREATE_SETTINGS, store_settings)


# ---------------------------------------------------------------------------
# i. RDS-managed master user secret contents
#
# Real AWS: with ManageMasterUserPassword, RDS stores
# {"username": <MasterUsername>, "password": <a new random password>} in the
# secret it creates (rds!db-...).  Tasks read the two keys through the task
# definition's `secrets` (valueFrom "<arn>:username::").
# moto 5.2.5: stores {"username": "admin", "password": "P@55w0rd!"} whatever
# the instance's master username, the same password for every instance.
# ---------------------------------------------------------------------------
PATCH_RDS_SECRET = "i-rds-managed-secret-contents"
RDS_PASSWORD_ALPHABET = (  # RDS leaves out / @ " and space
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$%&()*+,-.:;<=>?[]^_{|}~")


def apply_rds_managed_secret_contents() -> None:
    import secrets as _random

    from moto.rds import models

    cls = models.MasterUserSecret
    _require(PATCH_RDS_SECRET, cls, "_generate_secret_string", "_create_secret")
    if _is_patched(cls._generate_secret_string, PATCH_RDS_SECRET):
        return
    original = cls._generate_secret_string

    @functools.wraps(original)
    def _generate_secret_string(self: Any) -> str:
        username = getattr(self.resource, "master_username", None)
        if not username:
            raise PatchError(
                f"[emulator patch {PATCH_RDS_SECRET}] moto internals changed: the secret's "
                "resource has no master_username when the secret is created."
            )
        password = "".join(_random.choice(RDS_PASSWORD_ALPHABET) for _ in range(28))
        return json.dumps({"username": username, "password": password})

    cls._generate_secret_string = _mark(_generate_secret_string, PATCH_RDS_SECRET)


# ---------------------------------------------------------------------------
# j. S3 GetBucketNotificationConfiguration: EventBridge
#
# Real AWS: after PutBucketNotificationConfiguration with an
# <EventBridgeConfiguration/>, GetBucketNotificationConfiguration returns it
# (an empty element: S3 sends every object event to EventBridge).
# moto 5.2.5: stores it (NotificationConfiguration.event_bridge) but leaves it
# out of the response, so aws_s3_bucket_notification with eventbridge = true
# shows `eventbridge = false -> true` on every plan.
# ---------------------------------------------------------------------------
PATCH_S3_EVENTBRIDGE = "j-s3-notification-eventbridge"


def apply_s3_notification_eventbridge() -> None:
    from moto.s3 import models, responses

    resp_cls = responses.S3Response
    _require(PATCH_S3_EVENTBRIDGE, resp_cls, "get_bucket_notification", "serialized", "backend")
    _require(PATCH_S3_EVENTBRIDGE, models.S3Backend, "get_bucket_notification_configuration")
    if _is_patched(resp_cls.get_bucket_notification, PATCH_S3_EVENTBRIDGE):
        return
    if "event_bridge" not in inspect.signature(models.NotificationConfiguration.__init__).parameters:
        raise PatchError(
            f"[emulator patch {PATCH_S3_EVENTBRIDGE}] moto internals changed: "
            "NotificationConfiguration no longer takes event_bridge."
        )
    original = resp_cls.get_bucket_notification

    @functools.wraps(original)
    def get_bucket_notification(self: Any) -> Any:
        config = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if not config or getattr(config, "event_bridge", None) is None:
            return original(self)
        serialized = self.serialized  # this request's response object only

        def with_event_bridge(action_result: Any) -> Any:
            payload = getattr(action_result, "result", None)
            if not isinstance(payload, dict):
                raise PatchError(
                    f"[emulator patch {PATCH_S3_EVENTBRIDGE}] moto internals changed: "
                    "get_bucket_notification no longer serializes ActionResult({...})."
                )
            payload["EventBridgeConfiguration"] = {}
            return serialized(action_result)

        self.serialized = with_event_bridge
        try:
            return original(self)
        finally:
            del self.serialized

    resp_cls.get_bucket_notification = _mark(get_bucket_notification, PATCH_S3_EVENTBRIDGE)


# ---------------------------------------------------------------------------
# k. ELBv2 load balancer Scheme default
#
# Real AWS: CreateLoadBalancer without Scheme makes an internet-facing load
# balancer, and DescribeLoadBalancers always returns Scheme
# ("internet-facing" or "internal").  The Terraform provider sends Scheme only
# for `internal = true`.
# moto 5.2.5: stores the missing parameter as None, so DescribeLoadBalancers
# leaves Scheme out for every load balancer Terraform creates as public.
# ---------------------------------------------------------------------------
PATCH_ELBV2_SCHEME = "k-elbv2-default-scheme"


def apply_elbv2_default_scheme() -> None:
    from moto.elbv2 import models

    cls = models.FakeLoadBalancer
    _require(PATCH_ELBV2_SCHEME, cls, "__init__")
    if _is_patched(cls.__init__, PATCH_ELBV2_SCHEME):
        return
    if "scheme" not in inspect.signature(cls.__init__).parameters:
        raise PatchError(
            f"[emulator patch {PATCH_ELBV2_SCHEME}] moto internals changed: "
            "FakeLoadBalancer no longer takes scheme."
        )
    original = cls.__init__

    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not getattr(self, "scheme", None):
            self.scheme = "internet-facing"

    cls.__init__ = _mark(__init__, PATCH_ELBV2_SCHEME)


ALL_PATCHES: dict[str, Callable[[], None]] = {
    PATCH_AAS_TAGS: apply_applicationautoscaling_tags,
    PATCH_RDS_SOURCE: apply_rds_parameter_source,
    PATCH_ECS_AZ: apply_ecs_availability_zone_rebalancing,
    PATCH_IAM_MANAGED: apply_iam_aws_managed_policies,
    PATCH_S3_SECURE_TRANSPORT: apply_s3_policy_secure_transport,
    PATCH_EC2_RULE_DESCRIPTION: apply_ec2_referenced_group_rule_description,
    PATCH_RDS_PERFORMANCE_INSIGHTS: apply_rds_performance_insights,
    PATCH_ECS_CREATE_SETTINGS: apply_ecs_create_service_settings,
    PATCH_RDS_SECRET: apply_rds_managed_secret_contents,
    PATCH_S3_EVENTBRIDGE: apply_s3_notification_eventbridge,
    PATCH_ELBV2_SCHEME: apply_elbv2_default_scheme,
}


def apply_all() -> list[str]:
    """Apply every patch (idempotent). Returns the patch names."""
    for apply in ALL_PATCHES.values():
        apply()
    return list(ALL_PATCHES)
