"""WebFirewall: AWS WAF with a per-IP rate limit and AWS managed rule groups in front of every load balancer, logs redacted."""
from infra import environments
from tests.stacks import VARIANT


def test_a_web_acl_with_the_managed_rule_groups_guards_the_load_balancer(app_stack):
    acl = app_stack.one("aws_wafv2_web_acl")
    assert acl["scope"] == "REGIONAL" and acl["default_action"] == {"allow": {}}
    groups = [(r["priority"], r["statement"]["managed_rule_group_statement"]["name"]) for r in acl["rule"]
              if "managed_rule_group_statement" in r["statement"]]
    assert groups == [(1, "AWSManagedRulesAmazonIpReputationList"), (2, "AWSManagedRulesCommonRuleSet"),
                      (3, "AWSManagedRulesKnownBadInputsRuleSet")]
    # The groups' own actions apply: what they match is blocked.
    assert all(r["override_action"] == {"none": {}} for r in acl["rule"] if r["name"] != "rate-limit-per-ip")
    association = app_stack.one("aws_wafv2_web_acl_association")
    assert association["resource_arn"] == app_stack.ref("aws_lb", "alb", "arn")
    assert association["web_acl_arn"] == app_stack.ref("aws_wafv2_web_acl", "acl", "arn")


def test_only_the_body_size_rule_counts_because_notes_may_be_larger_than_8_kb(app_stack):
    statements = {r["name"]: r["statement"]["managed_rule_group_statement"]
                  for r in app_stack.one("aws_wafv2_web_acl")["rule"] if "managed_rule_group_statement" in r["statement"]}
    assert statements["AWSManagedRulesCommonRuleSet"]["rule_action_override"] == [
        {"name": "SizeRestrictions_BODY", "action_to_use": {"count": {}}}]
    assert [n for n, s in statements.items() if "rule_action_override" in s] == ["AWSManagedRulesCommonRuleSet"]


def test_waf_logs_go_to_an_encrypted_log_group_kept_a_year_without_credentials(app_stack):
    logging = app_stack.one("aws_wafv2_web_acl_logging_configuration")
    assert logging["log_destination_configs"] == [app_stack.ref("aws_cloudwatch_log_group", "firewall_logs", "arn")]
    assert logging["redacted_fields"] == [{"single_header": {"name": "authorization"}},
                                          {"single_header": {"name": "cookie"}}]
    group = app_stack.find("aws_cloudwatch_log_group", "firewall_logs")
    assert group["name"].startswith("aws-waf-logs-notes-")
    assert group["retention_in_days"] == 365
    assert group["kms_key_id"] == app_stack.ref("aws_kms_key", "key", "arn")


def test_a_client_ip_above_the_configured_rate_is_blocked_before_any_other_rule(app_stack):
    configs = {env.name: env for env in [*environments.ENVIRONMENTS.values(), VARIANT]}
    expected_limit = configs[app_stack.path.parent.name].load_balancer.rate_limit_per_ip
    rule = next(r for r in app_stack.one("aws_wafv2_web_acl")["rule"] if r["name"] == "rate-limit-per-ip")
    assert rule["priority"] == 0
    assert rule["action"] == {"block": {}}
    assert rule["statement"] == {"rate_based_statement": {"limit": expected_limit, "aggregate_key_type": "IP"}}
    assert rule["visibility_config"]["cloudwatch_metrics_enabled"] is True
