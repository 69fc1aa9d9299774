"""WebService: cluster, task definitions (app and migration), the Fargate service and its scaling."""

from tests.stacks import DIGEST


def test_cluster_has_container_insights_and_its_logs_have_finite_retention(app_stack):
    cluster = app_stack.one("aws_ecs_cluster")
    assert cluster["setting"] == [{"name": "containerInsights", "value": "enabled"}]
    logs = app_stack.find("aws_cloudwatch_log_group", "service_logs")
    assert logs["retention_in_days"] == app_stack.config.service.log_retention_days
    assert logs["kms_key_id"] == app_stack.ref("aws_kms_key", "key", "arn")


def test_every_log_group_has_retention_and_the_stack_key(app_stack):
    for name, group in app_stack.resources("aws_cloudwatch_log_group").items():
        assert group.get("retention_in_days"), name
        assert group.get("kms_key_id") == app_stack.ref("aws_kms_key", "key", "arn"), name


def test_app_task_definition_runs_on_fargate_with_the_configured_size(app_stack):
    task, config = app_stack.find("aws_ecs_task_definition", "app-task"), app_stack.config.service
    assert task["requires_compatibilities"] == ["FARGATE"] and task["network_mode"] == "awsvpc"
    assert (task["cpu"], task["memory"]) == (str(config.cpu), str(config.memory))
    assert task["family"] == f"{app_stack.config.prefix}-app"


def test_app_task_definition_has_the_smallest_fargate_size_by_default(weakened):
    task = weakened.find("aws_ecs_task_definition", "app-task")
    assert (task["cpu"], task["memory"], task["family"]) == ("256", "512", "notes-weakened-app")


def test_image_is_the_repository_url_with_the_configured_tag_or_digest(weakened, variant):
    assert weakened.container("app-task")["image"] == (
        weakened.ref("aws_ecr_repository", "repository", "repository_url") + ":0.1.0")
    assert variant.container("app-task")["image"] == (
        variant.ref("aws_ecr_repository", "repository", "repository_url") + "@" + DIGEST)


def test_each_environment_runs_the_image_it_configures(env_stack):
    config = env_stack.config.service
    repository = env_stack.ref("aws_ecr_repository", "repository", "repository_url")
    assert env_stack.container("app-task")["image"] == repository + ("@" if config.is_digest else ":") + config.image_tag


def test_app_container_is_hardened(app_stack):
    container, config = app_stack.container("app-task"), app_stack.config.service
    assert container["readonlyRootFilesystem"] is True
    assert container["privileged"] is False
    assert container["user"] == config.run_as_user
    assert container["linuxParameters"]["capabilities"] == {"drop": ["ALL"]}
    assert container["stopTimeout"] == config.stop_timeout_seconds


def test_only_tmp_is_writable_through_a_task_scratch_volume(app_stack):
    task = app_stack.find("aws_ecs_task_definition", "app-task")
    assert task["volume"] == [{"name": "tmp"}]
    assert app_stack.container("app-task")["mountPoints"] == [
        {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}]


def test_app_container_serves_on_its_port_logs_to_cloudwatch_and_has_a_health_check(app_stack):
    container, config = app_stack.container("app-task"), app_stack.config.service
    assert container["command"] == ["serve"]
    assert container["portMappings"] == [{"containerPort": config.container_port, "protocol": "tcp"}]
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert container["logConfiguration"]["options"]["awslogs-group"] == app_stack.ref(
        "aws_cloudwatch_log_group", "service_logs", "name")
    assert container["healthCheck"]["command"][:2] == ["CMD", "python"]
    assert f"http://127.0.0.1:{config.container_port}{config.health_check_path}" in container["healthCheck"]["command"][-1]


def test_migration_task_definition_runs_migrate_once_with_the_same_image_and_no_port(app_stack):
    app, migrate = app_stack.container("app-task"), app_stack.container("migrate-task")
    assert migrate["command"] == ["migrate"]
    assert migrate["image"] == app["image"]
    assert "portMappings" not in migrate and "healthCheck" not in migrate
    assert migrate["readonlyRootFilesystem"] is True and migrate["user"] == app["user"]


def test_seed_strategy_migrates_on_start_in_a_single_task(weakened):
    env = {e["name"]: e["value"] for e in weakened.container("app-task")["environment"]}
    assert env["MIGRATE_ON_START"] == "true"
    assert weakened.one("aws_ecs_service")["desired_count"] == 1
    assert not weakened.resources("aws_appautoscaling_target")


def test_each_environment_migrates_counts_and_scales_as_configured(env_stack):
    config = env_stack.config.service
    env = {e["name"]: e["value"] for e in env_stack.container("app-task")["environment"]}
    assert env["MIGRATE_ON_START"] == ("true" if config.migrations == "on_start" else "false")
    assert env_stack.one("aws_ecs_service")["desired_count"] == config.desired_count
    assert len(env_stack.resources("aws_appautoscaling_target")) == (config.autoscaling is not None)


def test_pipeline_strategy_leaves_migrations_to_the_one_off_task(variant):
    env = {e["name"]: e["value"] for e in variant.container("app-task")["environment"]}
    assert env["MIGRATE_ON_START"] == "false"


def test_service_runs_on_fargate_in_private_subnets_without_a_public_ip(app_stack):
    service = app_stack.one("aws_ecs_service")
    assert service["launch_type"] == "FARGATE"
    network = service["network_configuration"]
    assert network["assign_public_ip"] is False
    assert sorted(network["subnets"]) == sorted(
        app_stack.ref("aws_subnet", f"private-{i}") for i in range(len(network["subnets"])))
    assert network["security_groups"] == [app_stack.ref("aws_security_group", "service_sg")]


def test_service_is_registered_with_the_target_group_and_rolls_back_failed_deployments(app_stack):
    service, config = app_stack.one("aws_ecs_service"), app_stack.config.service
    assert service["load_balancer"] == [{"target_group_arn": app_stack.ref("aws_lb_target_group", "app", "arn"),
                                         "container_name": "app", "container_port": config.container_port}]
    assert service["deployment_circuit_breaker"] == {"enable": True, "rollback": True}
    assert (service["deployment_minimum_healthy_percent"], service["deployment_maximum_percent"]) == (100, 200)
    assert service["health_check_grace_period_seconds"] == config.health_check_grace_seconds
    assert service["task_definition"] == app_stack.ref("aws_ecs_task_definition", "app-task", "arn")


def test_autoscaling_tracks_cpu_and_requests_per_target_within_bounds(variant):
    target = variant.one("aws_appautoscaling_target")
    assert (target["min_capacity"], target["max_capacity"]) == (2, 8)
    assert target["scalable_dimension"] == "ecs:service:DesiredCount"
    metrics = {p["target_tracking_scaling_policy_configuration"]["predefined_metric_specification"]["predefined_metric_type"]:
               p["target_tracking_scaling_policy_configuration"]["target_value"]
               for p in variant.resources("aws_appautoscaling_policy").values()}
    assert metrics == {"ECSServiceAverageCPUUtilization": 60, "ALBRequestCountPerTarget": 500}


def test_with_autoscaling_terraform_leaves_the_desired_count_to_the_autoscaler(variant, weakened):
    assert variant.one("aws_ecs_service")["lifecycle"] == {"ignore_changes": ["desired_count"]}
    assert variant.one("aws_ecs_service")["desired_count"] == 2
    assert "lifecycle" not in weakened.one("aws_ecs_service")
