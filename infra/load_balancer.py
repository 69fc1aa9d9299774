"""LoadBalancer: the internet-facing ALB, its listeners, the app's target group and its security group."""
from __future__ import annotations

from constructs import Construct
from cdktf_cdktf_provider_aws.lb import Lb, LbAccessLogs
from cdktf_cdktf_provider_aws.lb_listener import LbListener, LbListenerDefaultAction, LbListenerDefaultActionRedirect
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

from infra.access_logs import AccessLogBucket
from infra.config import LoadBalancerConfig
from infra.network import Network

# TLS 1.2 and 1.3 only, forward-secret ciphers.
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


class LoadBalancer(Construct):
    """Public entry point. HTTPS forwards to the app and HTTP redirects to it; with `http_only`, HTTP forwards."""

    def __init__(self, scope: Construct, id: str, *, name: str, config: LoadBalancerConfig, network: Network,
                 access_logs: AccessLogBucket, target_port: int, health_check_path: str) -> None:
        super().__init__(scope, id)
        self.https = config.certificate_arn is not None
        # Egress only through `allow_to`: the load balancer reaches its targets and nothing else.
        self.security_group = SecurityGroup(self, "sg", name=f"{name}-alb", vpc_id=network.vpc.id,
                                            description="Load balancer: HTTP(S) from the internet",
                                            tags={"Name": f"{name}-alb"})
        ports = [80, 443] if self.https else [80]
        for port in ports:
            for family, cidr in (("ipv4", "0.0.0.0/0"), ("ipv6", "::/0")):
                VpcSecurityGroupIngressRule(
                    self, f"ingress-{port}-{family}", security_group_id=self.security_group.id, ip_protocol="tcp",
                    from_port=port, to_port=port, description=f"{'HTTPS' if port == 443 else 'HTTP'} from the internet",
                    **({"cidr_ipv4": cidr} if family == "ipv4" else {"cidr_ipv6": cidr}))

        self.alb = Lb(self, "alb", name=f"{name}-alb", internal=False, load_balancer_type="application",
                      subnets=[s.id for s in network.public_subnets], security_groups=[self.security_group.id],
                      drop_invalid_header_fields=True, enable_deletion_protection=config.deletion_protection,
                      idle_timeout=config.idle_timeout_seconds, desync_mitigation_mode="defensive",
                      access_logs=LbAccessLogs(bucket=access_logs.bucket.id, prefix=access_logs.prefix, enabled=True),
                      # ELB writes a test object when logging is turned on: the bucket policy must be in place.
                      depends_on=[access_logs.policy])
        self.target_group = LbTargetGroup(
            self, "app", name=f"{name}-app", port=target_port, protocol="HTTP", target_type="ip",
            vpc_id=network.vpc.id, deregistration_delay=str(config.deregistration_delay_seconds),
            health_check=LbTargetGroupHealthCheck(enabled=True, path=health_check_path, protocol="HTTP",
                                                  matcher="200", interval=15, timeout=5, healthy_threshold=2,
                                                  unhealthy_threshold=3))
        forward = LbListenerDefaultAction(type="forward", target_group_arn=self.target_group.arn)
        if self.https:
            self.https_listener = LbListener(self, "https", load_balancer_arn=self.alb.arn, port=443,
                                             protocol="HTTPS", ssl_policy=TLS_POLICY,
                                             certificate_arn=config.certificate_arn, default_action=[forward])
            self.http_listener = LbListener(
                self, "http", load_balancer_arn=self.alb.arn, port=80, protocol="HTTP",
                default_action=[LbListenerDefaultAction(type="redirect", redirect=LbListenerDefaultActionRedirect(
                    protocol="HTTPS", port="443", status_code="HTTP_301"))])
        else:
            self.https_listener = None
            self.http_listener = LbListener(self, "http", load_balancer_arn=self.alb.arn, port=80, protocol="HTTP",
                                            default_action=[forward])

    def allow_to(self, targets: SecurityGroup, port: int, id: str, description: str) -> VpcSecurityGroupEgressRule:
        """Let the load balancer open connections to members of `targets` on `port`."""
        return VpcSecurityGroupEgressRule(self, id, security_group_id=self.security_group.id, ip_protocol="tcp",
                                          from_port=port, to_port=port, referenced_security_group_id=targets.id,
                                          description=description)

    @property
    def url(self) -> str:
        return f"{'https' if self.https else 'http'}://{self.alb.dns_name}"
