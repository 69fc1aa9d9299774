"""Database: private, encrypted, TLS-only PostgreSQL whose password only RDS and Secrets Manager know."""


def test_database_lives_in_the_isolated_subnets(app_stack):
    subnet_group = app_stack.one("aws_db_subnet_group")
    isolated = sorted(app_stack.ref("aws_subnet", f"isolated-{i}")
                      for i in range(len(subnet_group["subnet_ids"])))
    assert sorted(subnet_group["subnet_ids"]) == isolated
    assert app_stack.one("aws_db_instance")["db_subnet_group_name"] == app_stack.ref(
        "aws_db_subnet_group", "subnets", "name")


def test_parameter_group_forces_tls_and_logs_ddl_and_slow_statements(app_stack):
    group = app_stack.one("aws_db_parameter_group")
    params = {p["name"]: p["value"] for p in group["parameter"]}
    assert params["rds.force_ssl"] == "1"
    assert params["log_statement"] == "ddl"
    assert params["log_min_duration_statement"] == "1000"
    assert group["family"] == app_stack.config.database.parameter_group_family
    assert app_stack.one("aws_db_instance")["parameter_group_name"] == app_stack.ref(
        "aws_db_parameter_group", "parameters", "name")


def test_database_is_encrypted_with_the_stack_key_and_not_public(app_stack):
    db = app_stack.one("aws_db_instance")
    key = app_stack.ref("aws_kms_key", "key", "arn")
    assert db["storage_encrypted"] is True and db["kms_key_id"] == key
    assert db["publicly_accessible"] is False
    assert db["performance_insights_enabled"] is True and db["performance_insights_kms_key_id"] == key


def test_rds_generates_and_keeps_the_master_password_in_secrets_manager(app_stack):
    db = app_stack.one("aws_db_instance")
    assert db["manage_master_user_password"] is True
    assert db["master_user_secret_kms_key_id"] == app_stack.ref("aws_kms_key", "key", "arn")
    assert "password" not in db and "password_wo" not in db


def test_database_hardening_applies_in_every_environment(app_stack):
    db = app_stack.one("aws_db_instance")
    assert db["iam_database_authentication_enabled"] is True
    assert db["auto_minor_version_upgrade"] is True
    assert db["copy_tags_to_snapshot"] is True
    assert db["enabled_cloudwatch_logs_exports"] == ["postgresql", "upgrade"]
    assert db["monitoring_interval"] == 60
    assert db["monitoring_role_arn"] == app_stack.ref("aws_iam_role", "monitoring-role", "arn")


def test_exported_database_logs_are_kept_a_year_by_default(weakened):
    groups = {g["name"]: g for g in weakened.resources("aws_cloudwatch_log_group").values()}
    for export in ("postgresql", "upgrade"):
        assert groups[f"/aws/rds/instance/notes-weakened/{export}"]["retention_in_days"] == 365


def test_exported_database_logs_are_kept_as_each_environment_configures(app_stack):
    groups = {g["name"]: g for g in app_stack.resources("aws_cloudwatch_log_group").values()}
    for export in ("postgresql", "upgrade"):
        group = groups[f"/aws/rds/instance/{app_stack.config.prefix}/{export}"]
        assert group["retention_in_days"] == app_stack.config.database.log_retention_days


def test_a_protected_database_is_multi_az_and_keeps_a_final_snapshot(guarded):
    db = guarded.one("aws_db_instance")
    assert db["deletion_protection"] is True
    assert db["skip_final_snapshot"] is False
    assert db["final_snapshot_identifier"] == "notes-guarded-final"
    assert db["multi_az"] is True
    assert db["backup_retention_period"] == 14
    assert db["instance_class"] == "db.t4g.medium"


def test_each_environment_s_database_follows_its_configuration(env_stack):
    db, config = env_stack.one("aws_db_instance"), env_stack.config.database
    assert db["identifier"] == env_stack.config.prefix
    assert db["instance_class"] == config.instance_class
    assert db["deletion_protection"] is config.deletion_protection
    assert db["skip_final_snapshot"] is (not config.deletion_protection)
    assert db.get("final_snapshot_identifier") == (
        f"{env_stack.config.prefix}-final" if config.deletion_protection else None)
    assert db["multi_az"] is config.multi_az
    assert db["backup_retention_period"] == config.backup_retention_days


def test_the_default_engine_is_postgresql_16(variant):
    assert variant.one("aws_db_parameter_group")["family"] == "postgres16"
    assert variant.one("aws_db_instance")["engine_version"] == "16"


def test_multi_az_is_the_default(variant):
    assert variant.one("aws_db_instance")["multi_az"] is True


def test_a_database_can_be_destroyed_by_its_named_setting(weakened):
    db = weakened.one("aws_db_instance")
    assert db["deletion_protection"] is False
    assert db["skip_final_snapshot"] is True
    assert db["multi_az"] is False
    assert db["backup_retention_period"] == 1
