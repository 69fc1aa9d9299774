"""Know when it breaks: the alarm topic, the alarms, the app's error metric, saved log queries and a dashboard.

`AlarmTopic` is where every alarm reports (SNS, encrypted with the stack's key, email subscriptions from the
configuration). `Alarms` creates each alarm from the table below, in two steps because ECS's deployment alarms
must exist before the service that names them: `watch_load_balancer` and `watch_database` first, then, once the
service exists, `watch_service` and `watch_app_log`. `Dashboard` shows the same metrics, the alarms' states and
the saved queries' subjects on one page per environment.

Each alarm's period, datapoints and missing-data treatment follow what its metric means:
- the load balancer publishes request metrics only for minutes with requests: no data is no traffic, not a
  failure (`notBreaching`), and the 5xx alarms judge a share of the minute's requests (metric math), never a
  count that grows with traffic;
- the target group's host counts, the service's and the database's metrics are published every minute: a
  missing datapoint there means the thing itself is gone (`breaching`), except for CPU and memory, whose absence
  the running-tasks alarm already reports;
- thresholds are the AWS "Best practice recommended alarms" values where AWS gives one (90 % CPU and memory,
  90 % of max_connections, 10 % free storage, 25 % freeable memory, 5 minutes of 1-minute periods) and the
  configuration's (infra/config.py AlarmsConfig) everywhere, validated like every other setting.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from constructs import Construct
from cdktf_cdktf_provider_aws.cloudwatch_dashboard import CloudwatchDashboard
from cdktf_cdktf_provider_aws.cloudwatch_log_metric_filter import (
    CloudwatchLogMetricFilter, CloudwatchLogMetricFilterMetricTransformation,
)
from cdktf_cdktf_provider_aws.cloudwatch_metric_alarm import (
    CloudwatchMetricAlarm, CloudwatchMetricAlarmMetricQuery, CloudwatchMetricAlarmMetricQueryMetric,
)
from cdktf_cdktf_provider_aws.cloudwatch_query_definition import CloudwatchQueryDefinition
from cdktf_cdktf_provider_aws.sns_topic import SnsTopic
from cdktf_cdktf_provider_aws.sns_topic_policy import SnsTopicPolicy
from cdktf_cdktf_provider_aws.sns_topic_subscription import SnsTopicSubscription

from infra.aws_limits import pg_max_connections, rds_memory_gib
from infra.config import AlarmsConfig, DatabaseConfig
from infra.service import WebService

MINUTE = 60
GIB = 2**30
# The app's JSON log (app/log.py): one object per line, `level` as Python's logging names it.
APP_ERROR_PATTERN = '{ ($.level = "ERROR") || ($.level = "CRITICAL") }'
APP_ERRORS_METRIC = "AppErrors"
# The alarms that mean "this version is bad": ECS rolls a deployment back when one goes to ALARM during it.
DEPLOYMENT_ALARMS = ("target-5xx", "load-balancer-5xx", "latency-p99", "unhealthy-hosts")


@dataclass(frozen=True)
class Watched:
    """What the alarms and the dashboard look at before the service exists: the load balancer's and the database's
    CloudWatch dimensions, as Terraform references."""
    region: str
    load_balancer: str
    """The ALB's ARN suffix (app/<name>/<id>), CloudWatch's LoadBalancer dimension."""
    target_group: str
    """The target group's ARN suffix, the TargetGroup dimension."""
    database: str
    """The RDS instance identifier."""


class AlarmTopic(Construct):
    """The SNS topic every alarm notifies, encrypted with the stack's key. The key's policy lets CloudWatch use
    it (`EncryptionKey(alarms=True)`): without that grant an encrypted topic drops every alarm, silently."""

    def __init__(self, scope: Construct, id: str, *, name: str, key, emails: tuple[str, ...]) -> None:
        super().__init__(scope, id)
        self.topic = SnsTopic(self, "topic", name=f"{name}-alarms", kms_master_key_id=key.arn)
        alarms = f"arn:{key.partition}:cloudwatch:*:{key.account_id}:alarm:{name}-*"
        SnsTopicPolicy(self, "policy", arn=self.topic.arn, policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {   # CloudWatch publishes this environment's alarms (re:Post, "CloudWatch alarm SNS notification").
                    "Sid": "CloudWatchAlarms", "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish",
                    "Resource": self.topic.arn,
                    "Condition": {"ArnLike": {"aws:SourceArn": alarms},
                                  "StringEquals": {"aws:SourceAccount": key.account_id}}},
                {   # The account's own principals publish and subscribe by their IAM policies, over TLS only.
                    "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*",
                    "Action": ["sns:Publish", "sns:Subscribe"], "Resource": self.topic.arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            ]}))
        for i, email in enumerate(emails):
            # Pending until the address follows AWS's confirmation link; Terraform does not wait for it.
            SnsTopicSubscription(self, f"email-{i}", topic_arn=self.topic.arn, protocol="email", endpoint=email)

    @property
    def arn(self) -> str:
        return self.topic.arn


class Alarms(Construct):
    """One CloudWatch alarm per line of the module docstring's table, each notifying `topic` on ALARM and OK."""

    def __init__(self, scope: Construct, id: str, *, name: str, config: AlarmsConfig, topic: AlarmTopic,
                 watched: Watched) -> None:
        super().__init__(scope, id)
        self.name, self.config, self.topic, self.watched = name, config, topic, watched
        self.alarms: dict[str, CloudwatchMetricAlarm] = {}

    def _add(self, id: str, description: str, *, comparison: str, threshold: float, periods: int, datapoints: int,
             missing: str, **metric) -> CloudwatchMetricAlarm:
        alarm = CloudwatchMetricAlarm(
            self, id, alarm_name=f"{self.name}-{id}", alarm_description=description,
            comparison_operator=comparison, threshold=threshold, evaluation_periods=periods,
            datapoints_to_alarm=datapoints, treat_missing_data=missing,
            alarm_actions=[self.topic.arn], ok_actions=[self.topic.arn], **metric)
        self.alarms[id] = alarm
        return alarm

    def _share(self, id: str, description: str, errors: str, dimensions: dict[str, str]) -> None:
        """errors as a share (%) of the load balancer's requests, per minute; a minute with no request is 0 %."""
        def metric(query_id: str, name: str, dims: dict[str, str]) -> CloudwatchMetricAlarmMetricQuery:
            return CloudwatchMetricAlarmMetricQuery(id=query_id, return_data=False, metric=(
                CloudwatchMetricAlarmMetricQueryMetric(namespace="AWS/ApplicationELB", metric_name=name,
                                                       dimensions=dims, period=MINUTE, stat="Sum")))
        requests = {"LoadBalancer": self.watched.load_balancer}
        self._add(id, description, comparison="GreaterThanThreshold", threshold=self.config.error_rate_percent,
                  periods=5, datapoints=3, missing="notBreaching", metric_query=[
                      metric("errors", errors, dimensions), metric("requests", "RequestCount", requests),
                      CloudwatchMetricAlarmMetricQuery(
                          id="share", label="5xx share of requests (%)", return_data=True,
                          expression="IF(FILL(requests, 0) > 0, 100 * FILL(errors, 0) / FILL(requests, 0), 0)")])

    def watch_load_balancer(self, least_tasks: int) -> list[CloudwatchMetricAlarm]:
        """The load balancer's alarms; the ones ECS watches during a deployment (DEPLOYMENT_ALARMS) among them."""
        lb = {"LoadBalancer": self.watched.load_balancer}
        target = {"LoadBalancer": self.watched.load_balancer, "TargetGroup": self.watched.target_group}
        share = self.config.error_rate_percent
        self._share("target-5xx", f"Over {share} % of requests answered 5xx by the tasks, 3 minutes out of 5",
                    "HTTPCode_Target_5XX_Count", target)
        self._share("load-balancer-5xx", f"Over {share} % of requests answered 5xx by the load balancer itself (no "
                    "healthy task, a task that reset or timed out), 3 minutes out of 5", "HTTPCode_ELB_5XX_Count", lb)
        objective = self.config.latency_p99_ms
        self._add("latency-p99", f"p99 of the tasks' response time over {objective} ms, 5 minutes in a row",
                  comparison="GreaterThanThreshold", threshold=objective / 1000, periods=5, datapoints=5,
                  missing="notBreaching", namespace="AWS/ApplicationELB", metric_name="TargetResponseTime",
                  dimensions=target, period=MINUTE, extended_statistic="p99",
                  evaluate_low_sample_count_percentiles="ignore")
        self._add("unhealthy-hosts", "A task failed the load balancer's health checks, 2 minutes in a row",
                  comparison="GreaterThanThreshold", threshold=0, periods=2, datapoints=2, missing="notBreaching",
                  namespace="AWS/ApplicationELB", metric_name="UnHealthyHostCount", dimensions=target,
                  period=MINUTE, statistic="Maximum")
        if least_tasks > 0:
            self._add("healthy-hosts", f"Fewer than {least_tasks} healthy tasks (the service's minimum), 3 minutes "
                      "in a row", comparison="LessThanThreshold", threshold=least_tasks, periods=3, datapoints=3,
                      missing="breaching", namespace="AWS/ApplicationELB", metric_name="HealthyHostCount",
                      dimensions=target, period=MINUTE, statistic="Minimum")
        self._add("rejected-connections", "The load balancer refused connections (its connection limit), 1 minute",
                  comparison="GreaterThanThreshold", threshold=0, periods=1, datapoints=1, missing="notBreaching",
                  namespace="AWS/ApplicationELB", metric_name="RejectedConnectionCount", dimensions=lb,
                  period=MINUTE, statistic="Sum")
        return [self.alarms[id] for id in DEPLOYMENT_ALARMS]

    def watch_database(self, database: DatabaseConfig) -> None:
        db = {"DBInstanceIdentifier": self.watched.database}
        c = self.config
        memory = rds_memory_gib(database.instance_class)
        connections = pg_max_connections(memory) * c.database_connections_percent // 100
        rds = dict(namespace="AWS/RDS", dimensions=db, period=MINUTE)
        self._add("database-cpu", f"Database CPU over {c.database_cpu_percent} %, 5 minutes in a row",
                  comparison="GreaterThanThreshold", threshold=c.database_cpu_percent, periods=5, datapoints=5,
                  missing="breaching", metric_name="CPUUtilization", statistic="Average", **rds)
        free = database.allocated_storage_gb * GIB * c.database_free_storage_percent // 100
        self._add("database-free-storage", f"Free storage under {c.database_free_storage_percent} % of "
                  f"{database.allocated_storage_gb} GiB, 5 minutes in a row", comparison="LessThanThreshold",
                  threshold=free, periods=5, datapoints=5, missing="breaching", metric_name="FreeStorageSpace",
                  statistic="Minimum", **rds)
        freeable = memory * GIB * c.database_freeable_memory_percent // 100
        self._add("database-freeable-memory", f"Freeable memory under {c.database_freeable_memory_percent} % of "
                  f"{database.instance_class}'s {memory} GiB, 15 minutes in a row", comparison="LessThanThreshold",
                  threshold=freeable, periods=15, datapoints=15, missing="breaching", metric_name="FreeableMemory",
                  statistic="Average", **rds)
        self._add("database-connections", f"Over {connections} connections ({c.database_connections_percent} % of "
                  f"{database.instance_class}'s default max_connections), 5 minutes in a row",
                  comparison="GreaterThanThreshold", threshold=connections, periods=5, datapoints=5,
                  missing="breaching", metric_name="DatabaseConnections", statistic="Maximum", **rds)

    def watch_service(self, web: WebService) -> None:
        service = {"ClusterName": web.cluster.name, "ServiceName": web.service.name}
        c = self.config
        for metric, what, threshold in (("CPUUtilization", "CPU", c.service_cpu_percent),
                                        ("MemoryUtilization", "memory", c.service_memory_percent)):
            self._add(f"service-{what.lower()}", f"Tasks' average {what} over {threshold} %, 5 minutes in a row",
                      comparison="GreaterThanThreshold", threshold=threshold, periods=5, datapoints=5,
                      missing="notBreaching", namespace="AWS/ECS", metric_name=metric, dimensions=service,
                      period=MINUTE, statistic="Average")
        # Container Insights (on for the cluster: infra/service.py) publishes both counts every minute. A rollout
        # runs more than desired, a scale-out less for a minute or two: five minutes below is tasks that do not
        # start or keep dying.
        def count(query_id: str, name: str, stat: str) -> CloudwatchMetricAlarmMetricQuery:
            return CloudwatchMetricAlarmMetricQuery(id=query_id, return_data=False, metric=(
                CloudwatchMetricAlarmMetricQueryMetric(namespace="ECS/ContainerInsights", metric_name=name,
                                                       dimensions=service, period=MINUTE, stat=stat)))
        self._add("running-tasks", "Fewer tasks running than the service's desired count, 5 minutes in a row",
                  comparison="GreaterThanThreshold", threshold=0, periods=5, datapoints=5, missing="notBreaching",
                  metric_query=[count("desired", "DesiredTaskCount", "Maximum"),
                                count("running", "RunningTaskCount", "Minimum"),
                                CloudwatchMetricAlarmMetricQuery(id="missing", label="tasks missing", return_data=True,
                                                                 expression="desired - running")])

    def watch_app_log(self, log_group) -> None:
        """A metric of the app's ERROR lines, its alarm, and the saved queries that show them."""
        namespace = f"{self.name}/app"
        CloudwatchLogMetricFilter(
            self, "app-errors-filter", name=f"{self.name}-app-errors", log_group_name=log_group.name,
            pattern=APP_ERROR_PATTERN, metric_transformation=CloudwatchLogMetricFilterMetricTransformation(
                name=APP_ERRORS_METRIC, namespace=namespace, value="1", default_value="0", unit="Count"))
        errors = self.config.app_errors_per_5_minutes
        self._add("app-errors", f"{errors} or more ERROR lines in the app's log within 5 minutes",
                  comparison="GreaterThanOrEqualToThreshold", threshold=errors, periods=1, datapoints=1,
                  missing="notBreaching", namespace=namespace, metric_name=APP_ERRORS_METRIC,
                  period=5 * MINUTE, statistic="Sum")
        for id, title, query in (
                ("errors", "app errors", "fields @timestamp, event, step, reason, path, exception\n"
                                         "| filter level = \"ERROR\" or level = \"CRITICAL\"\n"
                                         "| sort @timestamp desc\n| limit 100"),
                ("slowest", "slowest requests", "fields @timestamp, method, path, status, duration_ms\n"
                                                "| filter event = \"request\"\n"
                                                "| sort duration_ms desc\n| limit 50")):
            CloudwatchQueryDefinition(self, f"query-{id}", name=f"{self.name}/{title}", query_string=query,
                                      log_group_names=[log_group.name])


class Dashboard(Construct):
    """One CloudWatch dashboard per environment: traffic, errors, latency, capacity, the database, the alarms."""

    def __init__(self, scope: Construct, id: str, *, name: str, watched: Watched, web: WebService,
                 alarms: Alarms) -> None:
        super().__init__(scope, id)
        w = watched
        lb, target = ["LoadBalancer", w.load_balancer], ["LoadBalancer", w.load_balancer, "TargetGroup", w.target_group]
        service = ["ClusterName", web.cluster.name, "ServiceName", web.service.name]
        db = ["DBInstanceIdentifier", w.database]

        def graph(title: str, metrics: list, y: int, x: int, **extra) -> dict:
            return {"type": "metric", "x": x, "y": y, "width": 12, "height": 6, "properties": {
                "title": title, "region": w.region, "view": "timeSeries", "period": MINUTE, "metrics": metrics,
                **extra}}

        elb = "AWS/ApplicationELB"
        widgets = [
            graph("Requests", [[elb, "RequestCount", *lb, {"stat": "Sum"}]], 0, 0),
            graph("5xx share of requests (%)", [
                [elb, "HTTPCode_Target_5XX_Count", *target, {"id": "t5", "stat": "Sum", "visible": False}],
                [elb, "HTTPCode_ELB_5XX_Count", *lb, {"id": "e5", "stat": "Sum", "visible": False}],
                [elb, "RequestCount", *lb, {"id": "req", "stat": "Sum", "visible": False}],
                [{"expression": "IF(FILL(req, 0) > 0, 100 * FILL(t5, 0) / FILL(req, 0), 0)", "label": "tasks"}],
                [{"expression": "IF(FILL(req, 0) > 0, 100 * FILL(e5, 0) / FILL(req, 0), 0)", "label": "load balancer"}],
            ], 0, 12),
            graph("Response time (s)", [[elb, "TargetResponseTime", *target, {"stat": "p50", "label": "p50"}],
                                        [elb, "TargetResponseTime", *target, {"stat": "p99", "label": "p99"}]], 6, 0),
            graph("Healthy tasks and the service's count", [
                [elb, "HealthyHostCount", *target, {"stat": "Minimum", "label": "healthy"}],
                ["ECS/ContainerInsights", "RunningTaskCount", *service, {"stat": "Minimum", "label": "running"}],
                ["ECS/ContainerInsights", "DesiredTaskCount", *service, {"stat": "Maximum", "label": "desired"}]], 6, 12),
            graph("Tasks' CPU and memory (%)", [["AWS/ECS", "CPUUtilization", *service, {"stat": "Average"}],
                                                ["AWS/ECS", "MemoryUtilization", *service, {"stat": "Average"}]], 12, 0),
            graph("Database CPU (%) and connections", [
                ["AWS/RDS", "CPUUtilization", *db, {"stat": "Average"}],
                ["AWS/RDS", "DatabaseConnections", *db, {"stat": "Maximum", "yAxis": "right"}]], 12, 12),
            graph("Database free storage (bytes)", [["AWS/RDS", "FreeStorageSpace", *db, {"stat": "Minimum"}]], 18, 0),
            graph("App ERROR lines", [[f"{name}/app", APP_ERRORS_METRIC, {"stat": "Sum"}]], 18, 12),
            {"type": "alarm", "x": 0, "y": 24, "width": 24, "height": 4, "properties": {
                "title": "Alarms", "alarms": [alarm.arn for alarm in alarms.alarms.values()]}},
        ]
        self.dashboard = CloudwatchDashboard(self, "dashboard", dashboard_name=name,
                                             dashboard_body=json.dumps({"widgets": widgets}))
