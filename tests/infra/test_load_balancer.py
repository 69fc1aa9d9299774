"""LoadBalancer: a public ALB, a target group on the shallow health path, HTTP or HTTPS listeners."""
from tests.stacks import CERT, Stack


def test_load_balancer_is_internet_facing_in_the_public_subnets_and_drops_invalid_headers(app_stack):
    alb = app_stack.one("aws_lb")
    assert alb["internal"] is False and alb["load_balancer_type"] == "application"
    assert sorted(alb["subnets"]) == sorted(app_stack.ref("aws_subnet", f"public-{i}") for i in range(len(alb["subnets"])))
    assert alb["drop_invalid_header_fields"] is True
    assert alb["security_groups"] == [app_stack.ref("aws_security_group", "load-balancer_sg")]


def test_deletion_protection_is_on_by_default_and_off_only_by_name(variant, weakened):
    assert variant.one("aws_lb")["enable_deletion_protection"] is True
    assert weakened.one("aws_lb")["enable_deletion_protection"] is False


def test_each_environment_s_load_balancer_is_protected_as_configured(env_stack):
    assert env_stack.one("aws_lb")["enable_deletion_protection"] is env_stack.config.load_balancer.deletion_protection


def test_target_group_registers_task_ips_and_checks_the_shallow_health_path(app_stack):
    group, config = app_stack.one("aws_lb_target_group"), app_stack.config
    assert group["target_type"] == "ip" and group["port"] == config.service.container_port
    assert group["protocol"] == "HTTP"
    assert group["health_check"]["path"] == config.service.health_check_path and group["health_check"]["matcher"] == "200"
    assert group["deregistration_delay"] == str(config.load_balancer.deregistration_delay_seconds)


def assert_http_only(stack: Stack) -> None:
    (listener,) = stack.resources("aws_lb_listener").values()
    assert listener["port"] == 80 and listener["protocol"] == "HTTP"
    assert listener["default_action"] == [
        {"type": "forward", "target_group_arn": stack.ref("aws_lb_target_group", "app", "arn")}]


def assert_https_with(stack: Stack, certificate_arn: str) -> None:
    http = stack.find("aws_lb_listener", "http_")
    assert http["default_action"] == [{"type": "redirect", "redirect": {
        "protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}}]
    https = stack.find("aws_lb_listener", "https")
    assert https["port"] == 443 and https["protocol"] == "HTTPS"
    assert https["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["certificate_arn"] == certificate_arn
    assert https["default_action"][0]["target_group_arn"] == stack.ref("aws_lb_target_group", "app", "arn")
    assert len(stack.resources("aws_lb_listener")) == 2


def test_http_only_by_its_named_setting_forwards_http_to_the_app(weakened):
    assert_http_only(weakened)


def test_with_a_certificate_http_redirects_and_https_uses_tls_1_2_or_later(guarded, variant):
    for stack in (guarded, variant):
        assert_https_with(stack, CERT)


def test_each_environment_serves_http_or_https_as_configured(env_stack):
    config = env_stack.config.load_balancer
    if config.http_only:
        assert_http_only(env_stack)
    else:
        assert_https_with(env_stack, config.certificate_arn)
