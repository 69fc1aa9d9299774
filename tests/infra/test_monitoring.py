"""Alarms, the alarm topic, the app's error metric, saved queries and the dashboard (infra/monitoring.py): each
alarm watches this stack's own load balancer, target group, service, cluster or database, at the configured
threshold, and notifies the topic; ECS rolls a deployment back on the alarms that mean "this version is bad"."""
import json

import pytest

from infra.aws_limits import pg_max_connections, rds_memory_gib
from infra.monitoring import APP_ERROR_PATTERN, DEPLOYMENT_ALARMS

GIB = 2**30


def alarm(stack, id: str) -> dict:
    found = [v for k, v in stack.resources("aws_cloudwatch_metric_alarm").items() if k.startswith(f"alarms_{id}_")]
    assert len(found) == 1, f"expected one alarm {id}, found {len(found)}"
    return found[0]


def dims(stack) -> dict[str, str]:
    return {"LoadBalancer": stack.ref("aws_lb", "alb", "arn_suffix"),
            "TargetGroup": stack.ref("aws_lb_target_group", "app", "arn_suffix"),
            "ClusterName": stack.ref("aws_ecs_cluster", "cluster", "name"),
            "ServiceName": stack.ref("aws_ecs_service", "service", "name"),
            "DBInstanceIdentifier": stack.ref("aws_db_instance", "database", "identifier")}


def test_every_alarm_is_named_for_its_environment_and_notifies_the_topic_on_alarm_and_on_ok(app_stack):
    topic = app_stack.ref("aws_sns_topic", "alarm-topic", "arn")
    alarms = app_stack.resources("aws_cloudwatch_metric_alarm").values()
    assert len(alarms) >= 12
    for a in alarms:
        assert a["alarm_name"].startswith(f"{app_stack.config.prefix}-"), a["alarm_name"]
        assert a["alarm_actions"] == a["ok_actions"] == [topic], a["alarm_name"]
        assert a["alarm_description"] and a["treat_missing_data"] in ("notBreaching", "breaching")
        assert 1 <= a["datapoints_to_alarm"] <= a["evaluation_periods"]


def test_the_5xx_alarms_judge_a_share_of_each_minutes_requests_of_this_load_balancer(app_stack):
    d = dims(app_stack)
    for id, metric, watched in (("target-5xx", "HTTPCode_Target_5XX_Count", {"LoadBalancer", "TargetGroup"}),
                                ("load-balancer-5xx", "HTTPCode_ELB_5XX_Count", {"LoadBalancer"})):
        a = alarm(app_stack, id)
        queries = {q["id"]: q for q in a["metric_query"]}
        assert queries["errors"]["metric"]["metric_name"] == metric
        assert queries["errors"]["metric"]["dimensions"] == {k: d[k] for k in watched}
        assert queries["requests"]["metric"] == {"namespace": "AWS/ApplicationELB", "metric_name": "RequestCount",
                                                 "dimensions": {"LoadBalancer": d["LoadBalancer"]}, "period": 60,
                                                 "stat": "Sum"}
        assert queries["share"]["return_data"] is True and "100 * FILL(errors, 0) / FILL(requests, 0)" in \
            queries["share"]["expression"]
        assert a["threshold"] == app_stack.config.alarms.error_rate_percent
        assert a["treat_missing_data"] == "notBreaching", "a minute without requests is no failure"


def test_the_latency_alarm_is_the_p99_of_this_target_group_against_the_objective(app_stack):
    a, d = alarm(app_stack, "latency-p99"), dims(app_stack)
    assert (a["metric_name"], a["extended_statistic"]) == ("TargetResponseTime", "p99")
    assert a["dimensions"] == {"LoadBalancer": d["LoadBalancer"], "TargetGroup": d["TargetGroup"]}
    assert a["threshold"] == app_stack.config.alarms.latency_p99_ms / 1000
    assert a["evaluate_low_sample_count_percentiles"] == "ignore"


def test_healthy_hosts_are_judged_against_the_services_fewest_tasks_and_running_tasks_against_desired(app_stack):
    d, least = dims(app_stack), app_stack.config.service.least_tasks
    assert alarm(app_stack, "unhealthy-hosts")["threshold"] == 0
    healthy = alarm(app_stack, "healthy-hosts")
    assert (healthy["metric_name"], healthy["comparison_operator"], healthy["threshold"]) == (
        "HealthyHostCount", "LessThanThreshold", least)
    assert healthy["dimensions"] == {"LoadBalancer": d["LoadBalancer"], "TargetGroup": d["TargetGroup"]}
    assert healthy["treat_missing_data"] == "breaching"
    running = alarm(app_stack, "running-tasks")
    queries = {q["id"]: q for q in running["metric_query"]}
    service = {"ClusterName": d["ClusterName"], "ServiceName": d["ServiceName"]}
    assert [(q["metric"]["namespace"], q["metric"]["metric_name"], q["metric"]["dimensions"])
            for q in (queries["desired"], queries["running"])] == [
        ("ECS/ContainerInsights", "DesiredTaskCount", service), ("ECS/ContainerInsights", "RunningTaskCount", service)]
    assert (queries["missing"]["expression"], running["comparison_operator"], running["threshold"]) == (
        "desired - running", "GreaterThanThreshold", 0)
    assert (running["evaluation_periods"], running["datapoints_to_alarm"]) == (5, 5)


def test_the_service_alarms_watch_this_service_at_the_configured_thresholds(app_stack):
    d, config = dims(app_stack), app_stack.config.alarms
    for id, metric, threshold in (("service-cpu", "CPUUtilization", config.service_cpu_percent),
                                  ("service-memory", "MemoryUtilization", config.service_memory_percent)):
        a = alarm(app_stack, id)
        assert (a["namespace"], a["metric_name"], a["threshold"]) == ("AWS/ECS", metric, threshold)
        assert a["dimensions"] == {"ClusterName": d["ClusterName"], "ServiceName": d["ServiceName"]}


def test_the_database_alarms_watch_this_database_with_thresholds_from_its_size(app_stack):
    d, config, db = dims(app_stack), app_stack.config.alarms, app_stack.config.database
    memory = rds_memory_gib(db.instance_class)
    expected = {
        "database-cpu": ("CPUUtilization", config.database_cpu_percent),
        "database-free-storage": ("FreeStorageSpace", db.allocated_storage_gb * GIB * config.database_free_storage_percent // 100),
        "database-freeable-memory": ("FreeableMemory", memory * GIB * config.database_freeable_memory_percent // 100),
        "database-connections": ("DatabaseConnections", pg_max_connections(memory) * config.database_connections_percent // 100),
    }
    for id, (metric, threshold) in expected.items():
        a = alarm(app_stack, id)
        assert (a["namespace"], a["metric_name"], a["threshold"]) == ("AWS/RDS", metric, threshold)
        assert a["dimensions"] == {"DBInstanceIdentifier": d["DBInstanceIdentifier"]}


@pytest.mark.parametrize("instance_class, connections", [("db.t4g.micro", 100), ("db.t4g.medium", 405),
                                                         ("db.r7g.2xlarge", 4500)])
def test_the_connection_threshold_is_90_percent_of_the_classs_default_max_connections(instance_class, connections):
    assert pg_max_connections(rds_memory_gib(instance_class)) * 90 // 100 == connections


def test_the_apps_error_lines_are_a_metric_with_its_alarm_and_saved_queries_on_its_log_group(app_stack):
    log_group = app_stack.ref("aws_cloudwatch_log_group", "service_logs", "name")
    filter_ = app_stack.one("aws_cloudwatch_log_metric_filter")
    assert (filter_["log_group_name"], filter_["pattern"]) == (log_group, APP_ERROR_PATTERN)
    transformation = filter_["metric_transformation"]
    a = alarm(app_stack, "app-errors")
    assert (a["namespace"], a["metric_name"]) == (transformation["namespace"], transformation["name"])
    assert a["threshold"] == app_stack.config.alarms.app_errors_per_5_minutes and a["period"] == 300
    queries = app_stack.resources("aws_cloudwatch_query_definition").values()
    assert sorted(q["name"].split("/", 1)[1] for q in queries) == ["app errors", "slowest requests"]
    assert all(q["log_group_names"] == [log_group] for q in queries)


def test_a_deployment_rolls_back_when_an_alarm_of_a_bad_version_goes_off(app_stack):
    alarms = app_stack.one("aws_ecs_service")["alarms"]
    assert alarms["enable"] is True and alarms["rollback"] is True
    assert alarms["alarm_names"] == [app_stack.ref("aws_cloudwatch_metric_alarm", f"alarms_{id}_", "alarm_name")
                                     for id in DEPLOYMENT_ALARMS]


def test_the_topic_is_encrypted_with_the_stacks_key_which_lets_cloudwatch_use_it(app_stack):
    topic = app_stack.one("aws_sns_topic")
    assert topic["kms_master_key_id"] == app_stack.ref("aws_kms_key", "key", "arn")
    key_policy = json.loads(app_stack.one("aws_kms_key")["policy"])
    (grant,) = [s for s in key_policy["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}]
    assert grant["Effect"] == "Allow" and sorted(grant["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_only_this_environments_alarms_may_publish_to_the_topic_and_only_over_tls(app_stack):
    policy = json.loads(app_stack.one("aws_sns_topic_policy")["policy"])
    allow, deny = policy["Statement"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and allow["Action"] == "sns:Publish"
    assert allow["Condition"]["ArnLike"]["aws:SourceArn"].endswith(f":alarm:{app_stack.config.prefix}-*")
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_each_configured_email_address_is_subscribed(app_stack):
    subscriptions = app_stack.resources("aws_sns_topic_subscription").values()
    assert sorted(s["endpoint"] for s in subscriptions) == sorted(app_stack.config.alarms.emails)
    assert all(s["protocol"] == "email" for s in subscriptions)


def test_the_variant_stack_has_emails_so_that_the_test_above_sees_some(variant):
    assert len(variant.resources("aws_sns_topic_subscription")) == 2


def test_the_dashboard_shows_only_metrics_of_this_stack_and_every_alarm(app_stack):
    body = json.loads(app_stack.one("aws_cloudwatch_dashboard")["dashboard_body"])
    own = set(dims(app_stack).values())
    names = {"LoadBalancer", "TargetGroup", "ClusterName", "ServiceName", "DBInstanceIdentifier"}
    titles = []
    for widget in body["widgets"]:
        titles.append(widget["properties"]["title"])
        for metric in widget["properties"].get("metrics", []):
            values = [m for m in metric if not isinstance(m, dict)]
            if not values:
                continue  # a metric-math line
            namespace, _, *pairs = values
            pairs = dict(zip(pairs[::2], pairs[1::2]))
            assert set(pairs) <= names and set(pairs.values()) <= own, (widget["properties"]["title"], metric)
            if namespace.endswith("/app"):
                assert namespace == f"{app_stack.config.prefix}/app"
    alarms_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    assert sorted(alarms_widget["properties"]["alarms"]) == sorted(
        app_stack.ref("aws_cloudwatch_metric_alarm", k, "arn") for k in app_stack.resources("aws_cloudwatch_metric_alarm"))
    for subject in ("Requests", "5xx", "Response time", "Healthy tasks", "CPU and memory", "Database CPU",
                    "free storage", "ERROR"):
        assert any(subject in title for title in titles), subject
