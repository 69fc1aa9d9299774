"""LoadBalancer: a public ALB, a target group on the shallow health path, HTTP or HTTPS listeners."""


def test_load_balancer_is_internet_facing_in_the_public_subnets_and_drops_invalid_headers(app_stack):
    alb = app_stack.one("aws_lb")
    assert alb["internal"] is False and alb["load_balancer_type"] == "application"
    assert sorted(alb["subnets"]) == sorted(app_stack.ref("aws_subnet", f"public-{i}") for i in range(len(alb["subnets"])))
    assert alb["drop_invalid_header_fields"] is True
    assert alb["security_groups"] == [app_stack.ref("aws_security_group", "load-balancer_sg")]


def test_deletion_protection_is_on_in_prod_and_off_in_dev_by_name(dev, prod):
    assert prod.one("aws_lb")["enable_deletion_protection"] is True
    assert dev.one("aws_lb")["enable_deletion_protection"] is False


def test_target_group_registers_task_ips_and_checks_the_shallow_health_path(app_stack):
    group = app_stack.one("aws_lb_target_group")
    assert group["target_type"] == "ip" and group["port"] == 8000 and group["protocol"] == "HTTP"
    assert group["health_check"]["path"] == "/health" and group["health_check"]["matcher"] == "200"
    assert group["deregistration_delay"] == "20"


def test_dev_is_http_only_by_its_named_setting_and_forwards_http_to_the_app(dev):
    (listener,) = dev.resources("aws_lb_listener").values()
    assert listener["port"] == 80 and listener["protocol"] == "HTTP"
    assert listener["default_action"] == [
        {"type": "forward", "target_group_arn": dev.ref("aws_lb_target_group", "app", "arn")}]


def test_with_a_certificate_http_redirects_and_https_uses_tls_1_2_or_later(prod, variant):
    for stack in (prod, variant):
        http = stack.find("aws_lb_listener", "http_")
        assert http["default_action"] == [{"type": "redirect", "redirect": {
            "protocol": "HTTPS", "port": "443", "status_code": "HTTP_301"}}]
        https = stack.find("aws_lb_listener", "https")
        assert https["port"] == 443 and https["protocol"] == "HTTPS"
        assert https["ssl_policy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06"
        assert https["certificate_arn"].startswith("arn:aws:acm:")
        assert https["default_action"][0]["target_group_arn"] == stack.ref("aws_lb_target_group", "app", "arn")
