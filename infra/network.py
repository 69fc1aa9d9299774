"""Network: a VPC with public, private and isolated subnets per AZ, NAT, endpoints and flow logs."""
from __future__ import annotations

import json

from cdktf import Fn, Postcondition, TerraformResourceLifecycle
from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.data_aws_availability_zones import (
    DataAwsAvailabilityZones, DataAwsAvailabilityZonesFilter,
)
from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.eip import Eip
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.internet_gateway import InternetGateway
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway
from cdktf_cdktf_provider_aws.route import Route
from cdktf_cdktf_provider_aws.route_table import RouteTable
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

from infra.config import NetworkConfig
from infra.encryption import EncryptionKey

# Interface endpoints a Fargate task needs to start and run without internet access.
INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")


class Network(Construct):
    """VPC across `az_count` zones. Public: load balancer and NAT. Private: tasks. Isolated: database."""

    def __init__(self, scope: Construct, id: str, *, name: str, region: str, config: NetworkConfig,
                 key: EncryptionKey) -> None:
        super().__init__(scope, id)
        self.config = config
        self._name = name
        self._region = region
        zone_names = config.zone_names(region)
        # Pinned by name: a zone AWS adds later never moves a subnet. A pinned zone that does not exist
        # (or is impaired) stops the plan here, not half-way through creating subnets.
        zones = DataAwsAvailabilityZones(
            self, "zones", state="available",
            filter=[DataAwsAvailabilityZonesFilter(name="zone-name", values=zone_names)],
            lifecycle=TerraformResourceLifecycle(postcondition=[Postcondition(
                condition=f"${{length(self.names) == {len(zone_names)}}}",
                error_message=f"Not all of the zones {', '.join(zone_names)} are available in {region}: "
                              "set network.availability_zones to zones that are")]))
        self.vpc = Vpc(self, "vpc", cidr_block=config.vpc_cidr, enable_dns_support=True,
                       enable_dns_hostnames=True, tags={"Name": name})
        # Taking over the default group with no rules closes it (AWS gives it allow-all by default).
        DefaultSecurityGroup(self, "default-sg", vpc_id=self.vpc.id, tags={"Name": f"{name}-default-closed"})

        igw = InternetGateway(self, "igw", vpc_id=self.vpc.id, tags={"Name": name})

        def subnets(tier: str) -> list[Subnet]:
            return [
                Subnet(self, f"{tier}-{i}", vpc_id=self.vpc.id, cidr_block=cidr,
                       availability_zone=Fn.element(zones.names, i), map_public_ip_on_launch=False,
                       tags={"Name": f"{name}-{tier}-{i}", "tier": tier})
                for i, cidr in enumerate(config.subnet_cidrs(tier))
            ]

        self.public_subnets = subnets("public")
        self.private_subnets = subnets("private")
        self.isolated_subnets = subnets("isolated")

        public_rt = RouteTable(self, "public-rt", vpc_id=self.vpc.id, tags={"Name": f"{name}-public"})
        Route(self, "public-default", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0",
              gateway_id=igw.id)
        for i, subnet in enumerate(self.public_subnets):
            RouteTableAssociation(self, f"public-rta-{i}", subnet_id=subnet.id, route_table_id=public_rt.id)

        nat_count = {"none": 0, "single": 1, "per_az": config.az_count}[config.nat]
        nats = []
        for i in range(nat_count):
            eip = Eip(self, f"nat-eip-{i}", domain="vpc", tags={"Name": f"{name}-nat-{i}"})
            nats.append(NatGateway(self, f"nat-{i}", allocation_id=eip.id, subnet_id=self.public_subnets[i].id,
                                   tags={"Name": f"{name}-nat-{i}"}, depends_on=[igw]))

        self.private_route_tables = []
        for i, subnet in enumerate(self.private_subnets):
            rt = RouteTable(self, f"private-rt-{i}", vpc_id=self.vpc.id, tags={"Name": f"{name}-private-{i}"})
            if nats:
                Route(self, f"private-default-{i}", route_table_id=rt.id, destination_cidr_block="0.0.0.0/0",
                      nat_gateway_id=nats[min(i, len(nats) - 1)].id)
            RouteTableAssociation(self, f"private-rta-{i}", subnet_id=subnet.id, route_table_id=rt.id)
            self.private_route_tables.append(rt)

        # Isolated subnets: only the VPC-local route, no way to or from the internet.
        isolated_rt = RouteTable(self, "isolated-rt", vpc_id=self.vpc.id, tags={"Name": f"{name}-isolated"})
        for i, subnet in enumerate(self.isolated_subnets):
            RouteTableAssociation(self, f"isolated-rta-{i}", subnet_id=subnet.id, route_table_id=isolated_rt.id)

        self.endpoint_security_group: SecurityGroup | None = None
        if config.nat == "none":
            self._add_endpoints()
        self._add_flow_log(key)

    def _add_endpoints(self) -> None:
        name = self._name
        VpcEndpoint(self, "s3-endpoint", vpc_id=self.vpc.id, service_name=f"com.amazonaws.{self._region}.s3",
                    vpc_endpoint_type="Gateway", route_table_ids=[rt.id for rt in self.private_route_tables],
                    tags={"Name": f"{name}-s3"})
        self.endpoint_security_group = SecurityGroup(
            self, "endpoints-sg", name=f"{name}-endpoints", vpc_id=self.vpc.id,
            description="VPC interface endpoints: HTTPS from the VPC only", tags={"Name": f"{name}-endpoints"})
        VpcSecurityGroupIngressRule(
            self, "endpoints-https", security_group_id=self.endpoint_security_group.id, ip_protocol="tcp",
            from_port=443, to_port=443, cidr_ipv4=self.config.vpc_cidr,
            description="HTTPS to AWS APIs from inside the VPC")
        for service in INTERFACE_ENDPOINTS:
            VpcEndpoint(self, f"{service.replace('.', '-')}-endpoint", vpc_id=self.vpc.id,
                        service_name=f"com.amazonaws.{self._region}.{service}", vpc_endpoint_type="Interface",
                        private_dns_enabled=True, subnet_ids=[s.id for s in self.private_subnets],
                        security_group_ids=[self.endpoint_security_group.id], tags={"Name": f"{name}-{service}"})

    def _add_flow_log(self, key: EncryptionKey) -> None:
        group = CloudwatchLogGroup(self, "flow-log-group", name=f"/vpc/{self._name}/flow-logs",
                                   retention_in_days=self.config.flow_log_retention_days, kms_key_id=key.arn)
        role = IamRole(self, "flow-log-role", name=f"{self._name}-vpc-flow-logs",
                       assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                           "Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                           "Action": "sts:AssumeRole"}]}))
        IamRolePolicy(self, "flow-log-policy", role=role.id, name="write-flow-logs",
                      policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                          "Effect": "Allow",
                          "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                          "Resource": [group.arn, f"{group.arn}:*"]}]}))
        FlowLog(self, "flow-log", vpc_id=self.vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
                log_destination=group.arn, iam_role_arn=role.arn, max_aggregation_interval=60,
                tags={"Name": f"{self._name}-flow-log"})
