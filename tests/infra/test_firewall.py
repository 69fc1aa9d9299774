"""WebFirewall: AWS WAF with AWS managed rule groups in front of every load balancer, logs redacted."""


def test_a_web_acl_with_the_managed_rule_groups_guards_the_load_balancer(app_stack):
    acl = app_stack.one("aws_wafv2_web_acl")
    assert acl["scope"] == "REGIONAL" and acl["default_action"] == {"allow": {}}
    groups = [(r["priority"], r["statement"]["managed_rule_group_statement"]["name"]) for r in acl["rule"]]
    assert groups == [(0, "AWSManagedRulesAmazonIpReputationList"), (1, "AWSManagedRulesCommonRuleSet"),
                      (2, "AWSManagedRulesKnownBadInputsRuleSet")]
    # The groups' own actions apply: what they match is blocked.
    assert all(r["override_action"] == {"none": {}} for r in acl["rule"])
    association = app_stack.one("aws_wafv2_web_acl_association")
    assert association["resource_arn"] == app_stack.ref("aws_lb", "alb", "arn")
    assert association["web_acl_arn"] == app_stack.ref("aws_wafv2_web_acl", "acl", "arn")


def test_only_the_body_size_rule_counts_because_notes_may_be_larger_than_8_kb(app_stack):
    statements = {r["name"]: r["statement"]["managed_rule_group_statement"]
                  for r in app_stack.one("aws_wafv2_web_acl")["rule"]}
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
