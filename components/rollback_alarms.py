"""Rollback alarms: CloudWatch alarms on the replicas' target groups that ECS watches during a
blue/green, linear or canary deploy, rolling the deploy back when one fires."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.errors import SettingsError
from components.options import HealthCheck, RollbackAlarmTiming, StopTiming

_NAMESPACE = "AWS/ApplicationELB"
# The alarms of the default health check's replicas (RollbackAlarmsArgs.timing).
_DEFAULT_TIMING = RollbackAlarmTiming.of(StopTiming.of(HealthCheck()))


@dataclass(frozen=True)
class RollbackAlarmsArgs:
    load_balancer_arn_suffix: pulumi.Input[str]
    """`app/<alb>/<id>`: the ALB's arn_suffix, the LoadBalancer dimension of its metrics."""
    target_group_arn_suffixes: Sequence[pulumi.Input[str]]
    """`targetgroup/<tg>/<id>` of every group a revision may serve from: the primary and the
    alternate. ECS swaps their roles at each deploy, so each alarm watches both."""
    timing: RollbackAlarmTiming = _DEFAULT_TIMING
    """Period and data points of each alarm. @default: the default health check's stop, a minute (the ALB's
    metrics are one a minute), the 5xx alarm on 1 data point and the unhealthy-hosts alarm on 2 in a row."""
    target_5xx_threshold: int = 1
    """5xx answers from the replicas in one period that roll a deploy back. @default 1: a deploy
    that fails any request is rolled back."""
    unhealthy_hosts_threshold: int = 1
    """Unhealthy replicas (in either group) that roll a deploy back. @default 1."""


class RollbackAlarms(pulumi.ComponentResource):
    """Two alarms over the target groups: replicas answering 5xx (HTTPCode_Target_5XX_Count, summed) and
    replicas failing their health checks (UnHealthyHostCount, each group's Minimum of the period, the larger of
    the groups, over `timing.unhealthy_hosts_datapoints` periods in a row: a replica failing its checks on its
    stop signal, as long as its stop lasts, does not fire it). Missing data (no traffic) is not breaching.

    Exposes `target_5xx`, `unhealthy_hosts` and `alarm_names` (for the service's `alarms`).
    """

    target_5xx: aws.cloudwatch.MetricAlarm
    unhealthy_hosts: aws.cloudwatch.MetricAlarm
    alarm_names: list[pulumi.Output[str]]

    def __init__(self, name: str, args: RollbackAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if not args.target_group_arn_suffixes:
            raise SettingsError("no target group to watch; allowed: one or more", argument="target_group_arn_suffixes")
        timing = args.timing
        for key, value in (
            ("timing.period_seconds", timing.period_seconds),
            ("timing.target_5xx_datapoints", timing.target_5xx_datapoints),
            ("timing.unhealthy_hosts_datapoints", timing.unhealthy_hosts_datapoints),
            ("target_5xx_threshold", args.target_5xx_threshold),
            ("unhealthy_hosts_threshold", args.unhealthy_hosts_threshold),
        ):
            if value < 1:
                raise SettingsError(f"{value}; allowed: 1 or more", argument=key)
        super().__init__("alb-replicas:rollback_alarms:RollbackAlarms", name, None, opts)
        child_opts = pulumi.ResourceOptions(parent=self)

        self.target_5xx = self._alarm(
            f"{name}-target-5xx",
            args,
            metric="HTTPCode_Target_5XX_Count",
            stat="Sum",
            combine="SUM",
            threshold=args.target_5xx_threshold,
            datapoints=timing.target_5xx_datapoints,
            description="Replicas answered 5xx: ECS rolls a blue/green, linear or canary deploy back",
            opts=child_opts,
        )
        self.unhealthy_hosts = self._alarm(
            f"{name}-unhealthy-hosts",
            args,
            metric="UnHealthyHostCount",
            stat="Minimum",
            combine="MAX",
            threshold=args.unhealthy_hosts_threshold,
            datapoints=timing.unhealthy_hosts_datapoints,
            description="Replicas fail their health checks: ECS rolls a blue/green, linear or canary deploy back",
            opts=child_opts,
        )
        self.alarm_names = [self.target_5xx.name, self.unhealthy_hosts.name]
        self.register_outputs({"alarm_names": self.alarm_names})

    @staticmethod
    def _alarm(
        resource_name: str,
        args: RollbackAlarmsArgs,
        *,
        metric: str,
        stat: str,
        combine: str,
        threshold: int,
        datapoints: int,
        description: str,
        opts: pulumi.ResourceOptions,
    ) -> aws.cloudwatch.MetricAlarm:
        """One alarm on `metric` of every target group, combined by metric math (SUM or MAX), firing on
        `datapoints` breaching periods in a row."""
        ids = [f"group{index}" for index in range(len(args.target_group_arn_suffixes))]
        per_group = [
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=query_id,
                return_data=False,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace=_NAMESPACE,
                    metric_name=metric,
                    stat=stat,
                    period=args.timing.period_seconds,
                    dimensions={"LoadBalancer": args.load_balancer_arn_suffix, "TargetGroup": suffix},
                ),
            )
            for query_id, suffix in zip(ids, args.target_group_arn_suffixes, strict=True)
        ]
        combined = aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id="combined", expression=f"{combine}([{', '.join(ids)}])", label=metric, return_data=True
        )
        return aws.cloudwatch.MetricAlarm(
            resource_name,
            alarm_description=description,
            comparison_operator="GreaterThanOrEqualToThreshold",
            threshold=threshold,
            # M out of N with M = N: `datapoints` breaching periods in a row.
            evaluation_periods=datapoints,
            datapoints_to_alarm=datapoints,
            treat_missing_data="notBreaching",
            metric_queries=[*per_group, combined],
            opts=opts,
        )
