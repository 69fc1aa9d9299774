"""IAM's evaluation of identity-based policies, for one request: what AWS decides, by AWS's documented logic.

Source: AWS IAM User Guide, "Policy evaluation logic" (an explicit Deny in any statement wins; otherwise an
Allow is needed; otherwise the request is implicitly denied), "IAM JSON policy elements: Condition operators"
and "Condition with multiple context keys or values" (operators ANDed within a Condition block, keys ANDed
within an operator, values ORed within a key; `...IfExists`; `ForAnyValue:`/`ForAllValues:`; a negated operator
matches when the key is absent), and "Action", "Resource" (`*` and `?` wildcards; actions match case-insensitively,
ARNs case-sensitively). Policy variables and the Principal of resource-based policies are not evaluated here
(this project's CI policies use none, but trust policies are judged by `trusts`).

    decision = evaluate([policy], "ecs:ListTasks", "*", {"ecs:cluster": "arn:aws:ecs:...:cluster/notes-dev"})
    decision.allowed, decision.reason
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

Context = Mapping[str, "str | list[str]"]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    """`allowed by <sid>`, `explicitly denied by <sid>`, or `no statement allows it`."""


class PolicyFormatError(ValueError):
    """A policy this evaluator cannot read (an unknown condition operator, a malformed statement)."""


def evaluate(policies: Iterable[dict], action: str, resource: str, context: Context | None = None) -> Decision:
    """The decision for `action` on `resource` with these condition-key values, across every policy."""
    context = {k.lower(): v for k, v in (context or {}).items()}
    allowed_by = None
    for number, policy in enumerate(policies):
        for index, statement in enumerate(_list(policy.get("Statement"))):
            if not _applies(statement, action, resource, context):
                continue
            sid = statement.get("Sid") or f"statement {index + 1} of policy {number + 1}"
            if statement.get("Effect") == "Deny":
                return Decision(False, f"explicitly denied by {sid}")
            allowed_by = allowed_by or sid
    if allowed_by:
        return Decision(True, f"allowed by {allowed_by}")
    return Decision(False, "no statement allows it")


def trusts(trust_policy: dict, action: str, federated: str, context: Context) -> Decision:
    """Whether a role's trust policy lets a federated principal (an OIDC provider's ARN) assume it."""
    statements = [s for s in _list(trust_policy.get("Statement"))
                  if federated in _list((s.get("Principal") or {}).get("Federated"))]
    return evaluate([{"Statement": statements}], action, "*", context)


def _applies(statement: dict, action: str, resource: str, context: dict) -> bool:
    if "Action" in statement:
        if not any(_like(pattern, action, fold=True) for pattern in _list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(_like(pattern, action, fold=True) for pattern in _list(statement["NotAction"])):
            return False
    else:
        raise PolicyFormatError(f"statement {statement.get('Sid', '')!r} has neither Action nor NotAction")
    if "Resource" in statement:
        if not any(_like(pattern, resource) for pattern in _list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(_like(pattern, resource) for pattern in _list(statement["NotResource"])):
            return False
    return all(_condition(operator, key, values, context)
               for operator, block in (statement.get("Condition") or {}).items()
               for key, values in block.items())


def _list(value: Any) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def _like(pattern: str, value: str, fold: bool = False) -> bool:
    """IAM's wildcards: `*` any run of characters (`/` and `:` included), `?` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in str(pattern))
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if fold else re.DOTALL) is not None


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own (wildcards do not cross a colon)."""
    p, v = str(pattern).split(":", 5), value.split(":", 5)
    return len(p) == len(v) == 6 and all(_like(a, b) for a, b in zip(p, v))


def _number(value: Any) -> float:
    return float(value)


def _date(value: Any) -> str:
    return str(value)


COMPARE = {
    "StringEquals": lambda p, v: str(p) == v,
    "StringNotEquals": lambda p, v: str(p) == v,
    "StringEqualsIgnoreCase": lambda p, v: str(p).lower() == v.lower(),
    "StringNotEqualsIgnoreCase": lambda p, v: str(p).lower() == v.lower(),
    "StringLike": lambda p, v: _like(p, v),
    "StringNotLike": lambda p, v: _like(p, v),
    "ArnEquals": lambda p, v: _arn_like(p, v),
    "ArnLike": lambda p, v: _arn_like(p, v),
    "ArnNotEquals": lambda p, v: _arn_like(p, v),
    "ArnNotLike": lambda p, v: _arn_like(p, v),
    "NumericEquals": lambda p, v: _number(v) == _number(p),
    "NumericNotEquals": lambda p, v: _number(v) == _number(p),
    "NumericLessThan": lambda p, v: _number(v) < _number(p),
    "NumericLessThanEquals": lambda p, v: _number(v) <= _number(p),
    "NumericGreaterThan": lambda p, v: _number(v) > _number(p),
    "NumericGreaterThanEquals": lambda p, v: _number(v) >= _number(p),
    "DateEquals": lambda p, v: _date(v) == _date(p),
    "DateLessThan": lambda p, v: _date(v) < _date(p),
    "DateGreaterThan": lambda p, v: _date(v) > _date(p),
    "Bool": lambda p, v: str(p).lower() == v.lower(),
    "IpAddress": lambda p, v: ipaddress.ip_address(v) in ipaddress.ip_network(str(p), strict=False),
    "NotIpAddress": lambda p, v: ipaddress.ip_address(v) in ipaddress.ip_network(str(p), strict=False),
}
NEGATED = {"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike",
           "NumericNotEquals", "NotIpAddress"}


def _condition(operator: str, key: str, wanted: Any, context: dict) -> bool:
    """One key of one operator: values ORed; negated operators negate the ORed match."""
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    present = key.lower() in context
    values = [str(v) for v in _list(context.get(key.lower()))]
    if name == "Null":  # "true": the key must be absent; "false": present
        return (not present) == (str(_list(wanted)[0]).lower() == "true")
    if name not in COMPARE or qualifier not in ("", "ForAnyValue", "ForAllValues"):
        raise PolicyFormatError(f"condition operator {operator!r} is not one this evaluator knows")
    if not present:
        if qualifier == "ForAllValues":
            return True
        return if_exists or (name in NEGATED and qualifier != "ForAnyValue")
    compare = COMPARE[name]

    def matches(value: str) -> bool:
        return any(compare(pattern, value) for pattern in _list(wanted))

    if qualifier == "ForAllValues":
        found = all(matches(v) for v in values)
    else:  # a single-valued key, or ForAnyValue: any value matching
        found = any(matches(v) for v in values)
    return not found if name in NEGATED else found
