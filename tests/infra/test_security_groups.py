"""The security-group chain: internet -> load balancer -> tasks -> database, and nothing else."""
from tests.stacks import Stack

OPEN = ("0.0.0.0/0", "::/0")


def rules(stack: Stack, kind: str, group_part: str) -> list[dict]:
    group = stack.ref("aws_security_group", group_part)
    return [r for r in stack.resources(f"aws_vpc_security_group_{kind}_rule").values()
            if r["security_group_id"] == group]


def test_load_balancer_accepts_only_http_from_the_internet_without_a_certificate(weakened):
    ingress = rules(weakened, "ingress", "load-balancer_sg")
    assert sorted((r["from_port"], r["to_port"], r.get("cidr_ipv4") or r.get("cidr_ipv6")) for r in ingress) == [
        (80, 80, "0.0.0.0/0"), (80, 80, "::/0")]


def test_load_balancer_accepts_http_and_https_from_the_internet_with_a_certificate(variant):
    ingress = rules(variant, "ingress", "load-balancer_sg")
    assert sorted((r["from_port"], r.get("cidr_ipv4") or r.get("cidr_ipv6")) for r in ingress) == [
        (80, "0.0.0.0/0"), (80, "::/0"), (443, "0.0.0.0/0"), (443, "::/0")]


def test_each_environment_s_load_balancer_accepts_the_ports_its_configuration_serves(env_stack):
    ports = {r["from_port"] for r in rules(env_stack, "ingress", "load-balancer_sg")}
    assert ports == ({80} if env_stack.config.load_balancer.http_only else {80, 443})


def test_load_balancer_sends_traffic_only_to_the_tasks_on_the_container_port(app_stack):
    (egress,) = rules(app_stack, "egress", "load-balancer_sg")
    port = app_stack.config.service.container_port
    assert egress["referenced_security_group_id"] == app_stack.ref("aws_security_group", "service_sg")
    assert (egress["from_port"], egress["to_port"], egress["ip_protocol"]) == (port, port, "tcp")


def test_tasks_accept_traffic_only_from_the_load_balancer_on_the_container_port(app_stack):
    (ingress,) = rules(app_stack, "ingress", "service_sg")
    port = app_stack.config.service.container_port
    assert ingress["referenced_security_group_id"] == app_stack.ref("aws_security_group", "load-balancer_sg")
    assert (ingress["from_port"], ingress["to_port"], ingress["ip_protocol"]) == (port, port, "tcp")


def test_tasks_reach_only_the_database_and_https_apis(app_stack):
    egress = rules(app_stack, "egress", "service_sg")
    targets = sorted((r["from_port"], r.get("referenced_security_group_id") or r.get("cidr_ipv4")) for r in egress)
    assert targets == [(443, "0.0.0.0/0"), (5432, app_stack.ref("aws_security_group", "database_sg"))]


def test_database_accepts_connections_only_from_tasks_on_5432(app_stack):
    (ingress,) = rules(app_stack, "ingress", "database_sg")
    assert ingress["referenced_security_group_id"] == app_stack.ref("aws_security_group", "service_sg")
    assert (ingress["from_port"], ingress["to_port"], ingress["ip_protocol"]) == (5432, 5432, "tcp")
    assert rules(app_stack, "egress", "database_sg") == []


def test_security_groups_carry_no_inline_rules(app_stack):
    # Inline rules and rule resources fight over the same group; only rule resources are used.
    for group in app_stack.resources("aws_security_group").values():
        assert "ingress" not in group and "egress" not in group


def test_every_security_group_rule_has_a_description(app_stack):
    for kind in ("ingress", "egress"):
        for name, rule in app_stack.resources(f"aws_vpc_security_group_{kind}_rule").items():
            assert rule.get("description"), f"{name} has no description"


def test_no_ingress_from_anywhere_except_the_load_balancer_on_80_and_443(app_stack):
    lb_group = app_stack.ref("aws_security_group", "load-balancer_sg")
    for name, rule in app_stack.resources("aws_vpc_security_group_ingress_rule").items():
        if rule.get("cidr_ipv4") in OPEN or rule.get("cidr_ipv6") in OPEN:
            assert rule["security_group_id"] == lb_group, name
            assert rule["from_port"] == rule["to_port"] and rule["from_port"] in (80, 443), name


def test_every_rule_is_written_by_the_construct_that_owns_its_group(app_stack):
    # Like CDK's `connections`: a construct never edits another construct's security group.
    owner_of = {f"${{aws_security_group.{key}.id}}": group["//"]["metadata"]["path"].split("/")[1]
                for key, group in app_stack.resources("aws_security_group").items()}
    for kind in ("ingress", "egress"):
        for rule in app_stack.resources(f"aws_vpc_security_group_{kind}_rule").values():
            writer = rule["//"]["metadata"]["path"].split("/")[1]
            assert writer == owner_of[rule["security_group_id"]], rule["//"]["metadata"]["path"]


def test_rules_that_moved_to_their_owner_are_renamed_in_state_not_recreated(app_stack):
    # GIVEN a deployment made when WebService still wrote these two rules
    moved = {m["from"]: m["to"] for m in app_stack.json["moved"]}
    # THEN Terraform moves each old address onto the rule that now exists, so traffic never stops
    assert set(moved) == {"aws_vpc_security_group_egress_rule.service_alb-to-tasks_73E3A41E",
                          "aws_vpc_security_group_ingress_rule.service_db-from-tasks_8A9A37A7"}
    for old, new in moved.items():
        rtype, name = new.split(".")
        assert rtype == old.split(".")[0] and name in app_stack.resources(rtype)
        assert old.split(".")[1] not in app_stack.resources(rtype)
