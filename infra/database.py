"""Database: RDS PostgreSQL in the isolated subnets, its parameter and subnet groups, its security group.

RDS generates the master password and keeps it in Secrets Manager (`manage_master_user_password`),
so no password appears in the synthesized JSON or in Terraform state; RDS also rotates it.
"""
from __future__ import annotations

import json

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.db_instance import DbInstance
from cdktf_cdktf_provider_aws.db_parameter_group import DbParameterGroup, DbParameterGroupParameter
from cdktf_cdktf_provider_aws.db_subnet_group import DbSubnetGroup
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule

from infra.config import DatabaseConfig
from infra.encryption import EncryptionKey
from infra.network import Network

POSTGRES_PORT = 5432
LOG_EXPORTS = ("postgresql", "upgrade")


class Database(Construct):
    """An encrypted, private PostgreSQL instance. Others reach it through `security_group`."""

    def __init__(self, scope: Construct, id: str, *, name: str, config: DatabaseConfig, network: Network,
                 key: EncryptionKey) -> None:
        super().__init__(scope, id)
        self.port = POSTGRES_PORT
        self.database_name = config.database_name
        # Ingress only through `allow_from`; no egress: the database calls no one.
        self.security_group = SecurityGroup(self, "sg", name=f"{name}-database", vpc_id=network.vpc.id,
                                            description="PostgreSQL: reachable only from the app tasks",
                                            tags={"Name": f"{name}-database"})
        subnet_group = DbSubnetGroup(self, "subnets", name=f"{name}-database",
                                     subnet_ids=[s.id for s in network.isolated_subnets],
                                     description="Isolated subnets: no route to or from the internet")
        parameters = DbParameterGroup(
            self, "parameters", name=f"{name}-postgres", family=config.parameter_group_family,
            description="Forces TLS; logs DDL and slow statements",
            parameter=[
                DbParameterGroupParameter(name="rds.force_ssl", value="1"),
                DbParameterGroupParameter(name="log_statement", value="ddl"),
                DbParameterGroupParameter(name="log_min_duration_statement", value="1000"),
                DbParameterGroupParameter(name="log_connections", value="1"),
                DbParameterGroupParameter(name="log_disconnections", value="1"),
            ],
            lifecycle={"create_before_destroy": True})
        # RDS would create these groups itself, kept forever; creating them first bounds their retention.
        log_groups = [
            CloudwatchLogGroup(self, f"log-group-{export}", name=f"/aws/rds/instance/{name}/{export}",
                               retention_in_days=config.log_retention_days, kms_key_id=key.arn)
            for export in LOG_EXPORTS
        ]
        monitoring_role = IamRole(
            self, "monitoring-role", name=f"{name}-rds-monitoring",
            assume_role_policy=json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "monitoring.rds.amazonaws.com"},
                "Action": "sts:AssumeRole"}]}))
        monitoring_policy = IamRolePolicyAttachment(
            self, "monitoring-policy", role=monitoring_role.name,
            policy_arn=f"arn:{key.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole")

        self.instance = DbInstance(
            self, "instance",
            identifier=name,
            engine="postgres",
            engine_version=config.engine_version,
            instance_class=config.instance_class,
            allocated_storage=config.allocated_storage_gb,
            max_allocated_storage=config.max_allocated_storage_gb,
            storage_type="gp3",
            storage_encrypted=True,
            kms_key_id=key.arn,
            db_name=config.database_name,
            username=config.master_username,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=key.arn,
            port=POSTGRES_PORT,
            db_subnet_group_name=subnet_group.name,
            parameter_group_name=parameters.name,
            vpc_security_group_ids=[self.security_group.id],
            publicly_accessible=False,
            multi_az=config.multi_az,
            backup_retention_period=config.backup_retention_days,
            copy_tags_to_snapshot=True,
            deletion_protection=config.deletion_protection,
            skip_final_snapshot=not config.deletion_protection,
            final_snapshot_identifier=f"{name}-final" if config.deletion_protection else None,
            auto_minor_version_upgrade=True,
            iam_database_authentication_enabled=True,
            performance_insights_enabled=True,
            performance_insights_kms_key_id=key.arn,
            performance_insights_retention_period=7,
            monitoring_interval=60,
            monitoring_role_arn=monitoring_role.arn,
            enabled_cloudwatch_logs_exports=list(LOG_EXPORTS),
            apply_immediately=False,
            depends_on=[*log_groups, monitoring_policy],
        )

    def allow_from(self, peer: SecurityGroup, id: str, description: str) -> VpcSecurityGroupIngressRule:
        """Let members of `peer` connect to PostgreSQL; the only way into the database's group."""
        return VpcSecurityGroupIngressRule(self, id, security_group_id=self.security_group.id, ip_protocol="tcp",
                                           from_port=self.port, to_port=self.port,
                                           referenced_security_group_id=peer.id, description=description)

    @property
    def secret_arn(self) -> str:
        """ARN of the RDS-managed secret holding `username` and `password`."""
        return self.instance.master_user_secret.get(0).secret_arn

    @property
    def address(self) -> str:
        return self.instance.address
