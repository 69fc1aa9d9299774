"""WebFirewall: AWS WAF in front of the load balancer: a per-IP rate limit, AWS managed rule groups, encrypted logs."""
from __future__ import annotations

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.wafv2_web_acl import (
    Wafv2WebAcl, Wafv2WebAclDefaultAction, Wafv2WebAclDefaultActionAllow, Wafv2WebAclRule, Wafv2WebAclRuleAction,
    Wafv2WebAclRuleActionBlock,
    Wafv2WebAclRuleOverrideAction, Wafv2WebAclRuleOverrideActionNone, Wafv2WebAclRuleVisibilityConfig,
    Wafv2WebAclVisibilityConfig,
)
from cdktf_cdktf_provider_aws.wafv2_web_acl_association import Wafv2WebAclAssociation
from cdktf_cdktf_provider_aws.wafv2_web_acl_logging_configuration import (
    Wafv2WebAclLoggingConfiguration, Wafv2WebAclLoggingConfigurationRedactedFields,
    Wafv2WebAclLoggingConfigurationRedactedFieldsSingleHeader,
)

from infra.encryption import EncryptionKey
from infra.load_balancer import LoadBalancer

# The rate-based rule comes first, so that every request of a flood counts towards its client's limit.
RATE_LIMIT_RULE = "rate-limit-per-ip"
# Then, in priority order: drop known-bad sources first, then the OWASP-style core set, then exploit payloads
# (Log4j and the like). Each group blocks what it matches.
MANAGED_RULE_GROUPS = ("AWSManagedRulesAmazonIpReputationList", "AWSManagedRulesCommonRuleSet",
                       "AWSManagedRulesKnownBadInputsRuleSet")
# Rules of a group that only count: the core set blocks request bodies over 8 KB, and the app accepts
# notes of up to 10,000 characters (it enforces that limit itself).
COUNT_ONLY = {"AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",)}
# Credentials never reach the WAF logs.
REDACTED_HEADERS = ("authorization", "cookie")


def _visibility(metric: str) -> dict:
    return dict(cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True)


class WebFirewall(Construct):
    """A regional web ACL associated with the load balancer; requests it blocks get 403."""

    def __init__(self, scope: Construct, id: str, *, name: str, load_balancer: LoadBalancer, key: EncryptionKey,
                 log_retention_days: int, rate_limit_per_ip: int) -> None:
        super().__init__(scope, id)
        rules = [Wafv2WebAclRule(
            name=RATE_LIMIT_RULE, priority=0,
            action=Wafv2WebAclRuleAction(block=Wafv2WebAclRuleActionBlock()),
            # Requests per client IP in WAF's default 5-minute window; a blocked IP is let in again once
            # its rate falls below the limit.
            statement={"rate_based_statement": {"limit": rate_limit_per_ip, "aggregate_key_type": "IP"}},
            visibility_config=Wafv2WebAclRuleVisibilityConfig(**_visibility(f"{name}-{RATE_LIMIT_RULE}")))]
        for priority, group in enumerate(MANAGED_RULE_GROUPS, start=1):
            statement = {"name": group, "vendor_name": "AWS"}
            if group in COUNT_ONLY:
                statement["rule_action_override"] = [{"name": rule, "action_to_use": {"count": {}}}
                                                     for rule in COUNT_ONLY[group]]
            rules.append(Wafv2WebAclRule(
                name=group, priority=priority,
                override_action=Wafv2WebAclRuleOverrideAction(none=Wafv2WebAclRuleOverrideActionNone()),
                # The provider types `statement` loosely: it is the block as Terraform JSON.
                statement={"managed_rule_group_statement": statement},
                visibility_config=Wafv2WebAclRuleVisibilityConfig(**_visibility(f"{name}-{group}"))))
        self.web_acl = Wafv2WebAcl(
            self, "acl", name=f"{name}-alb", scope="REGIONAL", description=f"{name}: in front of the load balancer",
            default_action=Wafv2WebAclDefaultAction(allow=Wafv2WebAclDefaultActionAllow()), rule=rules,
            visibility_config=Wafv2WebAclVisibilityConfig(**_visibility(f"{name}-alb")))
        Wafv2WebAclAssociation(self, "association", resource_arn=load_balancer.alb.arn,
                               web_acl_arn=self.web_acl.arn)
        # WAF accepts only log groups whose name starts with `aws-waf-logs-`.
        self.log_group = CloudwatchLogGroup(self, "logs", name=f"aws-waf-logs-{name}",
                                            retention_in_days=log_retention_days, kms_key_id=key.arn)
        Wafv2WebAclLoggingConfiguration(
            self, "logging", resource_arn=self.web_acl.arn, log_destination_configs=[self.log_group.arn],
            redacted_fields=[Wafv2WebAclLoggingConfigurationRedactedFields(
                single_header=Wafv2WebAclLoggingConfigurationRedactedFieldsSingleHeader(name=header))
                for header in REDACTED_HEADERS])
