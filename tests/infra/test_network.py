"""Network: zones, subnet tiers, routes, NAT strategies, endpoints, flow logs, the default group."""
import ipaddress

from tests.stacks import Stack


def subnets(stack: Stack, tier: str) -> list[dict]:
    return [s for s in stack.resources("aws_subnet").values() if s["tags"]["tier"] == tier]


def test_vpc_has_three_tiers_of_subnets_one_per_availability_zone(app_stack):
    zones = app_stack.config.network.az_count
    (zones_data,) = app_stack.json["data"]["aws_availability_zones"]
    for tier in ("public", "private", "isolated"):
        tier_subnets = subnets(app_stack, tier)
        assert len(tier_subnets) == zones
        assert [s["availability_zone"] for s in tier_subnets] == [
            f"${{element(data.aws_availability_zones.{zones_data}.names, {i})}}" for i in range(zones)]


def assert_zones_pinned(stack: Stack, zones: list[str]) -> None:
    (data,) = stack.json["data"]["aws_availability_zones"].values()
    assert data["filter"] == [{"name": "zone-name", "values": zones}]
    (condition,) = data["lifecycle"]["postcondition"]
    assert condition["condition"] == f"${{length(self.names) == {len(zones)}}}"
    assert "set network.availability_zones" in condition["error_message"]


def test_zones_are_pinned_by_name_and_the_plan_stops_if_one_is_missing(weakened, guarded):
    assert_zones_pinned(weakened, ["us-east-1a", "us-east-1b"])
    assert_zones_pinned(guarded, ["us-east-1a", "us-east-1b", "us-east-1c"])


def test_each_environment_pins_the_zones_of_its_region(env_stack):
    config = env_stack.config
    assert_zones_pinned(env_stack, config.network.zone_names(config.region))
    assert all(zone.startswith(config.region) for zone in config.network.zone_names(config.region))


def test_vpc_has_the_configured_range(app_stack):
    assert app_stack.one("aws_vpc")["cidr_block"] == app_stack.config.network.vpc_cidr


def test_subnet_cidrs_lie_inside_the_vpc_and_do_not_overlap(app_stack):
    vpc = ipaddress.ip_network(app_stack.one("aws_vpc")["cidr_block"])
    cidrs = [ipaddress.ip_network(s["cidr_block"]) for s in app_stack.resources("aws_subnet").values()]
    assert all(c.subnet_of(vpc) for c in cidrs)
    assert all(not a.overlaps(b) for i, a in enumerate(cidrs) for b in cidrs[i + 1:])


def test_no_subnet_gives_instances_a_public_ip(app_stack):
    assert all(s["map_public_ip_on_launch"] is False for s in app_stack.resources("aws_subnet").values())


def test_only_the_public_route_table_routes_to_the_internet_gateway(app_stack):
    igw_routes = [r for r in app_stack.resources("aws_route").values() if "gateway_id" in r]
    assert len(igw_routes) == 1
    assert igw_routes[0]["route_table_id"] == app_stack.ref("aws_route_table", "public-rt")


def test_isolated_subnets_have_no_route_out_of_the_vpc(app_stack):
    isolated_rt = app_stack.ref("aws_route_table", "isolated-rt")
    assert not [r for r in app_stack.resources("aws_route").values() if r["route_table_id"] == isolated_rt]
    associations = [a for a in app_stack.resources("aws_route_table_association").values()
                    if a["route_table_id"] == isolated_rt]
    assert len(associations) == len(subnets(app_stack, "isolated"))


def test_single_nat_private_subnets_share_one_nat_gateway(weakened):
    assert len(weakened.resources("aws_nat_gateway")) == 1
    nat_routes = {r["nat_gateway_id"] for r in weakened.resources("aws_route").values() if "nat_gateway_id" in r}
    assert nat_routes == {weakened.ref("aws_nat_gateway", "nat-0")}
    assert len([r for r in weakened.resources("aws_route").values() if "nat_gateway_id" in r]) == 2


def test_per_az_nat_puts_one_nat_gateway_in_each_zone_s_public_subnet(guarded):
    nats = guarded.resources("aws_nat_gateway")
    assert len(nats) == 3
    assert {n["subnet_id"] for n in nats.values()} == {guarded.ref("aws_subnet", f"public-{i}") for i in range(3)}
    for i in range(3):
        route = guarded.find("aws_route", f"private-default-{i}")
        assert route["nat_gateway_id"] == guarded.ref("aws_nat_gateway", f"nat-{i}")
        assert route["route_table_id"] == guarded.ref("aws_route_table", f"private-rt-{i}")


def test_nat_none_adds_no_nat_and_the_endpoints_tasks_need_to_start(variant, weakened):
    assert not variant.resources("aws_nat_gateway") and not variant.resources("aws_eip")
    endpoints = {e["service_name"]: e for e in variant.resources("aws_vpc_endpoint").values()}
    assert set(endpoints) == {f"com.amazonaws.us-east-1.{s}" for s in ("s3", "ecr.api", "ecr.dkr", "logs", "secretsmanager")}
    assert endpoints["com.amazonaws.us-east-1.s3"]["vpc_endpoint_type"] == "Gateway"
    for service in ("ecr.api", "ecr.dkr", "logs", "secretsmanager"):
        endpoint = endpoints[f"com.amazonaws.us-east-1.{service}"]
        assert endpoint["vpc_endpoint_type"] == "Interface" and endpoint["private_dns_enabled"] is True
    assert not weakened.resources("aws_vpc_endpoint"), "with a NAT gateway the endpoints are not needed"


def test_each_environment_has_the_nat_gateways_and_endpoints_its_strategy_gives(env_stack):
    network = env_stack.config.network
    nats = {"single": 1, "per_az": network.az_count, "none": 0}[network.nat]
    assert len(env_stack.resources("aws_nat_gateway")) == nats
    assert len([r for r in env_stack.resources("aws_route").values() if "nat_gateway_id" in r]) == (
        network.az_count if nats else 0)
    endpoints = {e["service_name"] for e in env_stack.resources("aws_vpc_endpoint").values()}
    assert endpoints == ({f"com.amazonaws.{env_stack.config.region}.{s}"
                          for s in ("s3", "ecr.api", "ecr.dkr", "logs", "secretsmanager")} if not nats else set())


def test_vpc_flow_logs_go_to_cloudwatch_logs_kept_as_configured(app_stack):
    flow_log = app_stack.one("aws_flow_log")
    assert flow_log["traffic_type"] == "ALL"
    assert flow_log["log_destination_type"] == "cloud-watch-logs"
    assert flow_log["log_destination"] == app_stack.ref("aws_cloudwatch_log_group", "flow-log-group", "arn")
    retention = app_stack.find("aws_cloudwatch_log_group", "flow-log-group")["retention_in_days"]
    assert retention == app_stack.config.network.flow_log_retention_days


def test_vpc_flow_logs_are_kept_a_year_by_default(weakened):
    assert weakened.find("aws_cloudwatch_log_group", "flow-log-group")["retention_in_days"] == 365


def test_default_security_group_is_left_with_no_rules(app_stack):
    default_sg = app_stack.one("aws_default_security_group")
    assert "ingress" not in default_sg and "egress" not in default_sg
    assert default_sg["vpc_id"] == app_stack.ref("aws_vpc", "vpc")
