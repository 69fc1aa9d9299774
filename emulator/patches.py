"""Small, documented patches to moto 5.2.5 for gaps the hashicorp/aws Terraform
provider (5.100.0) hits when deploying this stack.

Each patch is a function registered with ``@patch(name, requires=...)``: a
comment above it says what real AWS returns and what moto does instead;
``requires`` names the moto internals it touches.  :class:`Patch` checks them
on every call (an upgraded moto raises :class:`PatchError` naming the patch
instead of silently serving wrong answers) and applies the patch once per process.

Call :func:`apply_all` in-process before the server starts serving: it first
checks that moto is :data:`MOTO_VERSION`, the version the patches were written for.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
from dataclasses import dataclass
from typing import Any, Callable

MOTO_VERSION = "5.2.5"  # Pipfile.lock pins it; every patch below was checked against it


class PatchError(RuntimeError):
    """moto's internals no longer match what a patch expects."""


def _changed(patch: str, what: str) -> PatchError:
    return PatchError(f"[emulator patch {patch}] moto internals changed: {what}. "
                      "Review emulator/patches.py against the installed moto version.")


def _native(patch: str, what: str) -> PatchError:
    return PatchError(f"[emulator patch {patch}] moto now {what} natively; "
                      "check it and remove this patch from emulator/patches.py.")


def _on(owner: str, *attrs: str) -> tuple[str, ...]:
    """requires= entries for several attributes of one moto object: _on("module:Owner", "a", "b")."""
    return tuple(f"{owner}.{attr}" if ":" in owner else f"{owner}:{attr}" for attr in attrs)


def _resolve(patch: str, target: str) -> Any:
    """The moto object "module:Owner.attr" names, or PatchError naming the patch."""
    module, _, path = target.partition(":")
    try:
        found: Any = importlib.import_module(module)
    except ImportError as exc:
        raise _changed(patch, f"cannot import {module} ({exc})") from None
    for part in path.split("."):
        owner, found = found, getattr(found, part, None)
        # A special method (__init__) counts only where the class defines it: every class inherits one.
        if found is None or (isinstance(owner, type) and part.startswith("__") and part not in vars(owner)):
            raise _changed(patch, f"{target} is gone")
    return found


_APPLIED: set[str] = set()


@dataclass(frozen=True)
class Patch:
    """One fix to moto; `requires` names what it touches in moto, as "module:Owner.attr"."""

    name: str
    requires: tuple[str, ...]
    body: Callable[[], None]

    def __call__(self) -> None:
        # Checked on every call, not only the first: a moto changed under a running process is noticed too.
        for target in self.requires:
            _resolve(self.name, target)
        if self.name not in _APPLIED:
            self.body()
            _APPLIED.add(self.name)


ALL_PATCHES: dict[str, Patch] = {}  # in definition order: the order apply_all applies them


def patch(name: str, requires: tuple[str, ...]) -> Callable[[Callable[[], None]], Patch]:
    """Register the decorated function as the patch `name` in ALL_PATCHES."""

    def register(body: Callable[[], None]) -> Patch:
        if name in ALL_PATCHES:
            raise ValueError(f"emulator patch {name!r} is registered twice: give the new one its own name")
        ALL_PATCHES[name] = Patch(name, requires, body)
        return ALL_PATCHES[name]

    return register


def wrap(owner: Any, attr: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Replace owner.attr (a method, staticmethod or property getter) by the decorated function, which
    gets moto's original as its first argument; a staticmethod or property stays one."""
    found = inspect.getattr_static(owner, attr)
    kind = type(found) if isinstance(found, (staticmethod, property)) else None
    original = found.fget if kind is property else getattr(owner, attr)

    def install(wrapper: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(original)
        def patched(*args: Any, **kwargs: Any) -> Any:
            return wrapper(original, *args, **kwargs)

        setattr(owner, attr, kind(patched) if kind else patched)
        return patched

    return install


def check_moto_version() -> None:
    import moto

    if moto.__version__ != MOTO_VERSION:
        raise PatchError(
            f"moto {moto.__version__} is installed, but the emulator's patches were written for moto "
            f"{MOTO_VERSION}. Run `pipenv sync --dev` (Pipfile.lock pins moto=={MOTO_VERSION}), or review "
            "every patch in emulator/patches.py against the new version and update MOTO_VERSION.")


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


@patch(PATCH_AAS_TAGS, requires=_on(
    "moto.applicationautoscaling.responses:ApplicationAutoScalingResponse",
    "register_scalable_target", "_get_param", "applicationautoscaling_backend") + (
    "moto.applicationautoscaling.models:ApplicationAutoscalingBackend.register_scalable_target",
    "moto.core.exceptions:JsonRESTError"))
def apply_applicationautoscaling_tags() -> None:
    from moto.applicationautoscaling import responses
    from moto.core.exceptions import JsonRESTError

    cls = responses.ApplicationAutoScalingResponse
    for native in ("list_tags_for_resource", "tag_resource", "untag_resource"):
        if hasattr(cls, native):
            raise _native(PATCH_AAS_TAGS, f"implements {native}")

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

    @wrap(cls, "register_scalable_target")
    def register_scalable_target(original: Callable[..., str], self: Any) -> str:
        body = original(self)
        arn = json.loads(body)["ScalableTargetARN"]
        store = _aas_tag_store(self.applicationautoscaling_backend)
        if arn not in store:  # newly created target: Tags apply on create only
            store[arn] = dict(self._get_param("Tags") or {})
        return body

    cls.list_tags_for_resource = list_tags_for_resource
    cls.tag_resource = tag_resource
    cls.untag_resource = untag_resource


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


@patch(PATCH_RDS_SOURCE, requires=("moto.rds.models:DBParameterGroup.update_parameters",) + _on(
    "moto.rds.responses:RDSResponse", "describe_db_parameters", "modify_db_parameter_group"))
def apply_rds_parameter_source() -> None:
    from moto.rds import models, responses

    @wrap(models.DBParameterGroup, "update_parameters")
    def update_parameters(original: Callable[..., None], self: Any, new_parameters: Any) -> None:
        new_parameters = list(new_parameters)
        original(self, new_parameters)
        for p in new_parameters:
            self.parameters[p["ParameterName"]]["Source"] = "user"

    @wrap(responses.RDSResponse, "describe_db_parameters")
    def describe_db_parameters(original: Callable[..., Any], self: Any) -> Any:
        result = original(self)
        payload = getattr(result, "result", None)
        if not isinstance(payload, dict) or "Parameters" not in payload:
            raise _changed(PATCH_RDS_SOURCE,
                           "describe_db_parameters no longer returns ActionResult({'Parameters': ...})")
        params = list(payload["Parameters"])
        source = self.params.get("Source")
        if source:
            params = [p for p in params if p.get("Source") == source]
        payload["Parameters"] = params
        return result


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
ECS_RESPONSE = "moto.ecs.responses:EC2ContainerServiceResponse"
ECS_CREATE_SERVICE = _on(ECS_RESPONSE, "create_service", "_get_param") + ("moto.ecs.models:Service",)


def _after_create_service(patch: str, store: Callable[[Any, Any], None]) -> None:
    """Wrap moto's ECS CreateService so that `store(response, service)` records what moto dropped."""
    from moto.ecs import models, responses

    @wrap(responses.EC2ContainerServiceResponse, "create_service")
    def create_service(original: Callable[..., Any], self: Any) -> Any:
        result = original(self)
        service = getattr(result, "result", {}).get("service")
        if not isinstance(service, models.Service):
            raise _changed(patch, "create_service no longer returns ActionResult({'service': Service})")
        store(self, service)
        return result


@patch(PATCH_ECS_AZ, requires=ECS_CREATE_SERVICE + _on(ECS_RESPONSE, "update_service"))
def apply_ecs_availability_zone_rebalancing() -> None:
    from moto.ecs import models

    if "availability_zone_rebalancing" in inspect.signature(models.Service.__init__).parameters:
        raise _native(PATCH_ECS_AZ, "models availability_zone_rebalancing")

    def store_rebalancing(response: Any, service: Any) -> None:
        value = response._get_param("availabilityZoneRebalancing")
        if value is None:
            value = "DISABLED" if service.scheduling_strategy == "DAEMON" else "ENABLED"
        service.availability_zone_rebalancing = value

    _after_create_service(PATCH_ECS_AZ, store_rebalancing)


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


@patch(PATCH_IAM_MANAGED, requires=("moto.settings:load_iam_aws_managed_policies",
                                    "moto.iam.models:IAMBackend._init_aws_policies",
                                    "moto.iam.models:iam_backends.iter_backends"))
def apply_iam_aws_managed_policies() -> None:
    from moto import settings
    from moto.iam import models

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


@patch(PATCH_S3_SECURE_TRANSPORT, requires=("moto.s3.models:FakeBucket.get_permission",) + _on(
    "moto.iam.access_control", "IAMPolicy", "PermissionResult"))
def apply_s3_policy_secure_transport() -> None:
    from moto.iam import access_control
    from moto.s3 import models

    params = list(inspect.signature(models.FakeBucket.get_permission).parameters)
    if params != ["self", "action", "resource"]:
        raise _changed(PATCH_S3_SECURE_TRANSPORT,
                       f"FakeBucket.get_permission takes {params}, expected (self, action, resource)")

    @wrap(models.FakeBucket, "get_permission")
    def get_permission(original: Callable[..., Any], self: Any, action: str, resource: str) -> Any:
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


@patch(PATCH_EC2_RULE_DESCRIPTION, requires=_on(
    "moto.ec2.models.security_groups:SecurityGroupRule", "description", "__init__"))
def apply_ec2_referenced_group_rule_description() -> None:
    from moto.ec2.models import security_groups

    rule_cls = security_groups.SecurityGroupRule
    prop = inspect.getattr_static(rule_cls, "description")
    if not isinstance(prop, property) or prop.fget is None:
        raise _changed(PATCH_EC2_RULE_DESCRIPTION, "SecurityGroupRule.description is no longer a property")
    params = inspect.signature(rule_cls.__init__).parameters
    if "source_group" not in params or "ip_range" not in params:
        raise _changed(PATCH_EC2_RULE_DESCRIPTION, "SecurityGroupRule no longer takes ip_range and source_group")

    @wrap(rule_cls, "description")
    def description(original: Callable[..., str | None], self: Any) -> str | None:
        found = original(self)
        if found is None and getattr(self, "source_group", None):
            found = self.source_group.get("Description")
        return found


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


@patch(PATCH_RDS_PERFORMANCE_INSIGHTS, requires=_on(
    "moto.rds.models:DBInstance", "__init__", "update", "region", "account_id"))
def apply_rds_performance_insights() -> None:
    from moto.rds import models

    cls = models.DBInstance
    for attr in ("performance_insights_enabled", "performance_insights_kms_key_id"):
        if hasattr(cls, attr) or attr in inspect.signature(cls.__init__).parameters:
            raise _native(PATCH_RDS_PERFORMANCE_INSIGHTS, f"models {attr}")

    @wrap(cls, "__init__")
    def __init__(original: Callable[..., None], self: Any, *args: Any, **kwargs: Any) -> None:
        enabled = kwargs.pop("enable_performance_insights", False)
        # RestoreDBInstance* rebuild an instance from another one's attributes.
        enabled = kwargs.pop("performance_insights_enabled", None) or enabled
        key_id = kwargs.pop("performance_insights_kms_key_id", None)
        retention = kwargs.pop("performance_insights_retention_period", None)
        original(self, *args, **kwargs)
        _pi_set(self, enabled, key_id, retention)

    @wrap(cls, "update")
    def update(original: Callable[..., None], self: Any, *args: Any, **kwargs: Any) -> None:
        enabled = kwargs.pop("enable_performance_insights", None)
        key_id = kwargs.pop("performance_insights_kms_key_id", None)
        retention = kwargs.pop("performance_insights_retention_period", None)
        original(self, *args, **kwargs)
        if enabled is not None or key_id is not None or retention is not None:
            _pi_set(self, enabled, key_id, retention)


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


@patch(PATCH_ECS_CREATE_SETTINGS, requires=ECS_CREATE_SERVICE)
def apply_ecs_create_service_settings() -> None:
    from moto.ecs import models

    native = {"health_check_grace_period_seconds", "enable_ecs_managed_tags",
              "enable_execute_command", "deployment_configuration"}
    found = native & set(inspect.signature(models.Service.__init__).parameters)
    if found:
        raise _native(PATCH_ECS_CREATE_SETTINGS, f"models {sorted(found)}")

    def store_settings(response: Any, service: Any) -> None:
        grace = response._get_param("healthCheckGracePeriodSeconds")
        if grace is not None:
            service.health_check_grace_period_seconds = int(grace)
        service.enable_ecs_managed_tags = bool(response._get_param("enableECSManagedTags", False))
        service.enable_execute_command = bool(response._get_param("enableExecuteCommand", False))
        if service.deployment_controller.get("type", "ECS") == "ECS":
            service.deployment_configuration = _deployment_configuration(
                response._get_param("deploymentConfiguration"), service.scheduling_strategy)

    _after_create_service(PATCH_ECS_CREATE_SETTINGS, store_settings)


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


@patch(PATCH_RDS_SECRET, requires=_on(
    "moto.rds.models:MasterUserSecret", "_generate_secret_string", "_create_secret"))
def apply_rds_managed_secret_contents() -> None:
    import secrets as _random

    from moto.rds import models

    @wrap(models.MasterUserSecret, "_generate_secret_string")
    def _generate_secret_string(original: Callable[..., str], self: Any) -> str:
        username = getattr(self.resource, "master_username", None)
        if not username:
            raise _changed(PATCH_RDS_SECRET,
                           "the secret's resource has no master_username when the secret is created")
        password = "".join(_random.choice(RDS_PASSWORD_ALPHABET) for _ in range(28))
        return json.dumps({"username": username, "password": password})


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


@patch(PATCH_S3_EVENTBRIDGE, requires=_on(
    "moto.s3.responses:S3Response", "get_bucket_notification", "serialized", "backend") + (
    "moto.s3.models:S3Backend.get_bucket_notification_configuration",))
def apply_s3_notification_eventbridge() -> None:
    from moto.s3 import models, responses

    if "event_bridge" not in inspect.signature(models.NotificationConfiguration.__init__).parameters:
        raise _changed(PATCH_S3_EVENTBRIDGE, "NotificationConfiguration no longer takes event_bridge")

    @wrap(responses.S3Response, "get_bucket_notification")
    def get_bucket_notification(original: Callable[..., Any], self: Any) -> Any:
        config = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if not config or getattr(config, "event_bridge", None) is None:
            return original(self)
        serialized = self.serialized  # this request's response object only

        def with_event_bridge(action_result: Any) -> Any:
            payload = getattr(action_result, "result", None)
            if not isinstance(payload, dict):
                raise _changed(PATCH_S3_EVENTBRIDGE,
                               "get_bucket_notification no longer serializes ActionResult({...})")
            payload["EventBridgeConfiguration"] = {}
            return serialized(action_result)

        self.serialized = with_event_bridge
        try:
            return original(self)
        finally:
            del self.serialized


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


@patch(PATCH_ELBV2_SCHEME, requires=_on("moto.elbv2.models:FakeLoadBalancer", "__init__"))
def apply_elbv2_default_scheme() -> None:
    from moto.elbv2 import models

    if "scheme" not in inspect.signature(models.FakeLoadBalancer.__init__).parameters:
        raise _changed(PATCH_ELBV2_SCHEME, "FakeLoadBalancer no longer takes scheme")

    @wrap(models.FakeLoadBalancer, "__init__")
    def __init__(original: Callable[..., None], self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if not getattr(self, "scheme", None):
            self.scheme = "internet-facing"



# ---------------------------------------------------------------------------
# l. ECS RunTask on Fargate with awsvpc
#
# Real AWS: RunTask(launchType=FARGATE, networkConfiguration=awsvpc) starts a
# task whose ENI attachment lists privateDnsName (ip-10-0-1-2.ec2.internal in
# us-east-1, ip-10-0-1-2.<region>.compute.internal elsewhere: every ENI has a
# private DNS name, whatever the VPC's enableDnsHostnames), and a Fargate task
# definition may set memory at task level only, as infra/service.py does.
# moto 5.2.5: sums the containers' `memory` (None without one: TypeError), then
# reads the ENI's private_dns_name, which it sets only in VPCs with DNS
# hostnames (AttributeError); both answer HTTP 500.  The release's migration
# gate (release/aws.py) runs the migration task exactly this way.
# ---------------------------------------------------------------------------
PATCH_ECS_RUN_TASK_FARGATE = "l-ecs-run-task-fargate"
ECS_TASK_RESOURCES = "moto.ecs.models:EC2ContainerServiceBackend._calculate_task_resource_requirements"


@patch(PATCH_ECS_RUN_TASK_FARGATE, requires=(
    "moto.ec2.models.elastic_network_interfaces:NetworkInterface.__init__", ECS_TASK_RESOURCES,
    "moto.ec2.utils:generate_dns_from_ip"))
def apply_ecs_run_task_fargate() -> None:
    import types

    from moto.ec2.models import elastic_network_interfaces as enis
    from moto.ec2.utils import generate_dns_from_ip
    from moto.ecs import models

    backend = models.EC2ContainerServiceBackend
    if not isinstance(inspect.getattr_static(backend, "_calculate_task_resource_requirements"), staticmethod):
        raise _changed(PATCH_ECS_RUN_TASK_FARGATE, "_calculate_task_resource_requirements is no longer a staticmethod")

    @wrap(enis.NetworkInterface, "__init__")
    def __init__(original: Callable[..., None], self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        if getattr(self, "private_dns_name", None) is None and self.private_ip_address:
            region = self.ec2_backend.region_name
            name = generate_dns_from_ip(self.private_ip_address)  # ip-a-b-c-d.ec2.internal
            self.private_dns_name = name if region == "us-east-1" else name.replace(
                ".ec2.internal", f".{region}.compute.internal")

    original_requirements = backend._calculate_task_resource_requirements

    @functools.wraps(original_requirements)
    def requirements(task_definition: Any) -> dict[str, Any]:
        # Containers without memory count 0; a task that sets memory only at task level gets that.
        containers = [dict(c) if any(k in c for k in ("memory", "Memory", "memoryReservation", "MemoryReservation"))
                      else dict(c, memory=0) for c in task_definition.container_definitions]
        result = original_requirements(types.SimpleNamespace(container_definitions=containers))
        if not result["MEMORY"] and getattr(task_definition, "memory", None):
            result["MEMORY"] = int(task_definition.memory)
        return result

    backend._calculate_task_resource_requirements = staticmethod(requirements)


# ---------------------------------------------------------------------------
# m. ELBv2 CreateListener on a port that already has a listener
#
# Real AWS (ELBv2 API reference, CreateListener): "This operation is
# idempotent, which means that it completes at most one time. If you attempt to
# create multiple listeners with the same settings, each call succeeds", and
# returns the one listener; a listener on that port with other settings is
# DuplicateListener.  The provider retries a CreateListener whose answer it did
# not get in time (max_retries), so the retry must find the first listener.
# moto 5.2.5: checks `port in balancer.listeners`, a dict keyed by ARN, so the
# check never fires: a retried call makes a second listener on the same port
# (seen in CI on a busy 2-core machine: two port-80 listeners).
# ---------------------------------------------------------------------------
PATCH_ELBV2_LISTENER_PORT = "m-elbv2-one-listener-per-port"


def _listener_settings(protocol: Any, ssl_policy: Any, certificate: Any, actions: list[Any]) -> tuple[Any, ...]:
    return ((protocol or "").upper(), ssl_policy, certificate,
            json.dumps([action.data for action in actions], sort_keys=True, default=str))


@patch(PATCH_ELBV2_LISTENER_PORT, requires=(
    "moto.elbv2.models:ELBv2Backend.create_listener", "moto.elbv2.models:FakeAction",
    "moto.elbv2.exceptions:DuplicateListenerError"))
def apply_elbv2_listener_port() -> None:
    from moto.elbv2 import exceptions, models

    @wrap(models.ELBv2Backend, "create_listener")
    def create_listener(original: Callable[..., Any], self: Any, load_balancer_arn: str, protocol: str, port: Any,
                        ssl_policy: str, certificate: str | None, actions: list[dict[str, Any]],
                        *args: Any, **kwargs: Any) -> Any:
        balancer = self.load_balancers.get(load_balancer_arn)
        same_port = [listener for listener in (balancer.listeners.values() if balancer else ())
                     if str(listener.port) == str(port)]
        if same_port:
            asked = _listener_settings(protocol, ssl_policy, certificate, [models.FakeAction(a) for a in actions])
            held = same_port[0]
            if _listener_settings(held.protocol, held.ssl_policy, held.certificate, held.default_actions) == asked:
                return held
            raise exceptions.DuplicateListenerError()
        return original(self, load_balancer_arn, protocol, port, ssl_policy, certificate, actions, *args, **kwargs)


# ---------------------------------------------------------------------------
# n. Application Auto Scaling keeps an ECS service's task count in its bounds
#
# Real AWS (Application Auto Scaling API reference, RegisterScalableTarget):
# "If the specified resource is not active in the target service, this
# operation does not change the resource's current capacity. Otherwise, it
# changes the resource's current capacity to a value that is inside of this
# range" (the service's desired count, through ecs:UpdateService).  A service
# created at 0 tasks (main.py's SERVICE_STOPPED, the release's first apply) gets
# its minimum once Terraform registers the target; lowering the maximum
# scales it in.
# moto 5.2.5: stores the bounds and leaves the service's desired count as it
# was, so the local runner, which follows that count, would never start a task.
# ---------------------------------------------------------------------------
PATCH_AAS_CAPACITY = "n-applicationautoscaling-capacity-in-bounds"
ECS_DESIRED_COUNT = "ecs:service:DesiredCount"


@patch(PATCH_AAS_CAPACITY, requires=(
    "moto.applicationautoscaling.models:ApplicationAutoscalingBackend.register_scalable_target",
    "moto.ecs.models:EC2ContainerServiceBackend.describe_services",
    "moto.ecs.models:EC2ContainerServiceBackend.update_service"))
def apply_applicationautoscaling_capacity() -> None:
    from moto.applicationautoscaling import models

    @wrap(models.ApplicationAutoscalingBackend, "register_scalable_target")
    def register_scalable_target(original: Callable[..., Any], self: Any, namespace: str, r_id: str, dimension: str,
                                 *args: Any, **kwargs: Any) -> Any:
        target = original(self, namespace, r_id, dimension, *args, **kwargs)
        if namespace != "ecs" or dimension != ECS_DESIRED_COUNT:
            return target
        _, cluster, name = r_id.split("/")
        found, _ = self.ecs_backend.describe_services(cluster, [name])
        service = found[0] if found else None
        if service is None or service.status != "ACTIVE":
            return target
        wanted = min(max(service.desired_count, target.min_capacity), target.max_capacity)
        if wanted != service.desired_count:
            self.ecs_backend.update_service({"cluster": cluster, "service": name, "desired_count": wanted})
        return target


# ---------------------------------------------------------------------------
# o. CloudWatch Logs PutMetricFilter replaces a filter of the same name
#
# Real AWS: PutMetricFilter "creates or updates a metric filter": a second call with the filter's name and log
# group replaces it (CloudWatch Logs API reference); DeleteMetricFilter removes it.
# moto 5.2.5: appends a second entry (MetricFilters.add_filter), so after an update DescribeMetricFilters lists
# the old filter first, which the provider reads: every plan shows the update again; and delete_filter removes
# from the list it iterates, so one of two duplicates survives.
# ---------------------------------------------------------------------------
PATCH_LOGS_METRIC_FILTER = "o-logs-metric-filter-update"


@patch(PATCH_LOGS_METRIC_FILTER, requires=_on("moto.logs.metric_filters:MetricFilters", "add_filter", "delete_filter"))
def apply_logs_metric_filter_update() -> None:
    from moto.logs.metric_filters import MetricFilters

    def same(entry: dict[str, Any], filter_name: str | None, log_group_name: str | None) -> bool:
        return entry["filterName"] == filter_name and entry["logGroupName"] == log_group_name

    @wrap(MetricFilters, "add_filter")
    def add_filter(original: Callable[..., Any], self: Any, filter_name: str, filter_pattern: str,
                   log_group_name: str, metric_transformations: Any) -> None:
        self.metric_filters[:] = [f for f in self.metric_filters if not same(f, filter_name, log_group_name)]
        original(self, filter_name, filter_pattern, log_group_name, metric_transformations)

    @wrap(MetricFilters, "delete_filter")
    def delete_filter(original: Callable[..., Any], self: Any, filter_name: str | None = None,
                      log_group_name: str | None = None) -> list[dict[str, Any]]:
        self.metric_filters[:] = [f for f in self.metric_filters if not same(f, filter_name, log_group_name)]
        return self.metric_filters


# ---------------------------------------------------------------------------
# p. CloudWatch Logs query definitions (Logs Insights saved queries)
#
# Real AWS: PutQueryDefinition(name, queryString, logGroupNames?, queryDefinitionId?) creates a definition (a new
# id) or, given an id, updates it (ResourceNotFoundException for an unknown id) -> {"queryDefinitionId"};
# DescribeQueryDefinitions(queryDefinitionNamePrefix?) -> {"queryDefinitions": [{queryDefinitionId, name,
# queryString, lastModified, logGroupNames}]}; DeleteQueryDefinition(queryDefinitionId) -> {"success": true}.
# moto 5.2.5: none of the three exist (NotImplementedError -> HTTP 500, which the provider retries for minutes).
# ---------------------------------------------------------------------------
PATCH_LOGS_QUERY_DEFINITIONS = "p-logs-query-definitions"


@patch(PATCH_LOGS_QUERY_DEFINITIONS, requires=_on("moto.logs.responses:LogsResponse", "logs_backend", "_get_param") + (
    "moto.logs.exceptions:ResourceNotFoundException",))
def apply_logs_query_definitions() -> None:
    import time
    import uuid

    from moto.logs.exceptions import ResourceNotFoundException
    from moto.logs.responses import LogsResponse

    for native in ("put_query_definition", "describe_query_definitions", "delete_query_definition"):
        if hasattr(LogsResponse, native):
            raise _native(PATCH_LOGS_QUERY_DEFINITIONS, f"implements {native}")

    def store(self: Any) -> dict[str, dict[str, Any]]:
        # On the backend instance, so moto's /moto-api/reset clears it too.
        backend = self.logs_backend
        if not hasattr(backend, "_emulator_query_definitions"):
            backend._emulator_query_definitions = {}
        return backend._emulator_query_definitions

    def put_query_definition(self: Any) -> str:
        definitions, wanted = store(self), self._get_param("queryDefinitionId")
        if wanted and wanted not in definitions:
            raise ResourceNotFoundException(f"Query definition {wanted} does not exist")
        found = wanted or str(uuid.uuid4())
        definitions[found] = {"queryDefinitionId": found, "name": self._get_param("name"),
                              "queryString": self._get_param("queryString"), "lastModified": int(time.time() * 1000),
                              **({"logGroupNames": names} if (names := self._get_param("logGroupNames")) else {})}
        return json.dumps({"queryDefinitionId": found})

    def describe_query_definitions(self: Any) -> str:
        prefix = self._get_param("queryDefinitionNamePrefix") or ""
        return json.dumps({"queryDefinitions": [d for d in store(self).values() if d["name"].startswith(prefix)]})

    def delete_query_definition(self: Any) -> str:
        definitions, wanted = store(self), self._get_param("queryDefinitionId")
        if definitions.pop(wanted, None) is None:
            raise ResourceNotFoundException(f"Query definition {wanted} does not exist")
        return json.dumps({"success": True})

    LogsResponse.put_query_definition = put_query_definition
    LogsResponse.describe_query_definitions = describe_query_definitions
    LogsResponse.delete_query_definition = delete_query_definition


def apply_all() -> list[str]:
    """Check moto's version, then apply every patch (idempotent). Returns the patch names."""
    check_moto_version()
    for apply in ALL_PATCHES.values():
        apply()
    return list(ALL_PATCHES)
