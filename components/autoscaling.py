"""Autoscaling: the replica count follows load between a floor and a ceiling."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# The provider's target tracking metric types, by what they are.
_scaling = aws.appautoscaling
_Predefined = _scaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs
_Customized = _scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgs
_Query = _scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricArgs
_MetricStat = _scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatArgs
_Metric = _scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricArgs
_Dimension = _scaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimensionArgs  # noqa: E501


@dataclass(frozen=True)
class ServiceAutoscalingArgs:
    cluster_name: pulumi.Input[str]
    """The service's ECS cluster."""
    service_name: pulumi.Input[str]
    """The ECS service to scale; create it with `autoscaled=True` so `pulumi up` leaves its count."""
    load_balancer_arn_suffix: pulumi.Input[str]
    """`app/<alb>/<id>`: the ALB's arn_suffix, CloudWatch's LoadBalancer dimension."""
    target_group_arn_suffixes: Sequence[pulumi.Input[str]]
    """`targetgroup/<tg>/<id>` of every group the service's tasks may serve from (both, with a shifting or a
    rolling strategy): CloudWatch's TargetGroup dimension."""
    min_replicas: int
    """Floor of the task count."""
    max_replicas: int
    """Ceiling of the task count."""
    requests_per_target: int = 1000
    """Target of the requests per replica per minute (RequestCountPerTarget summed over the groups).
    @default 1000."""
    cpu_target_percent: int = 60
    """Target of the replicas' average CPU utilisation. @default 60: headroom for a burst while
    new tasks start."""
    scale_out_cooldown_seconds: int = 60
    """Seconds after adding tasks before adding more. @default 60: react to load quickly."""
    scale_in_cooldown_seconds: int = 300
    """Seconds after removing tasks before removing more. @default 300: slower than scaling out, so
    a dip in load does not remove tasks that the next minute needs again."""


class ServiceAutoscaling(pulumi.ComponentResource):
    """Application Auto Scaling on an ECS service's desired count, with two target-tracking
    policies: requests per target and CPU. Whichever asks for more tasks wins.

    Requests per target sum `RequestCountPerTarget` (the ALB's requests to a group over its targets, a minute's
    Sum) over every group, as AWS's ECS blue/green autoscaling sample does (aws-samples/
    sample-amazon-ecs-blue-green-deployment-patterns, ecs-bluegreen-autoscaling): ECS moves production from group
    to group, a group production is not on gets no request and adds 0, so the sum follows production wherever it
    is; the predefined ALBRequestCountPerTarget names one group and went blind after every other shifting deploy.
    Test traffic (`deploymentTestTraffic`) counts too while a deploy runs: the sample's caveat, a brief over-count.

    Exposes `target`, `request_count_policy` and `cpu_policy`.
    """

    target: aws.appautoscaling.Target
    request_count_policy: aws.appautoscaling.Policy
    cpu_policy: aws.appautoscaling.Policy

    def __init__(self, name: str, args: ServiceAutoscalingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("alb-replicas:autoscaling:ServiceAutoscaling", name, None, opts)
        child_opts = pulumi.ResourceOptions(parent=self)

        self.target = aws.appautoscaling.Target(
            f"{name}-target",
            service_namespace="ecs",
            scalable_dimension="ecs:service:DesiredCount",
            resource_id=pulumi.Output.concat("service/", args.cluster_name, "/", args.service_name),
            min_capacity=args.min_replicas,
            max_capacity=args.max_replicas,
            opts=child_opts,
        )

        def target_tracking(
            policy_name: str,
            target_value: int,
            predefined: _Predefined | None = None,
            customized: _Customized | None = None,
        ) -> aws.appautoscaling.Policy:
            return aws.appautoscaling.Policy(
                f"{name}-{policy_name}",
                policy_type="TargetTrackingScaling",
                service_namespace=self.target.service_namespace,
                scalable_dimension=self.target.scalable_dimension,
                resource_id=self.target.resource_id,
                target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                    predefined_metric_specification=predefined,
                    customized_metric_specification=customized,
                    target_value=target_value,
                    scale_out_cooldown=args.scale_out_cooldown_seconds,
                    scale_in_cooldown=args.scale_in_cooldown_seconds,
                ),
                opts=child_opts,
            )

        self.request_count_policy = target_tracking(
            "requests", args.requests_per_target, customized=_requests_per_target_over(args)
        )
        self.cpu_policy = target_tracking(
            "cpu",
            args.cpu_target_percent,
            predefined=_Predefined(predefined_metric_type="ECSServiceAverageCPUUtilization"),
        )

        self.register_outputs({"resource_id": self.target.resource_id})


def _requests_per_target_over(args: ServiceAutoscalingArgs) -> _Customized:
    """Metric math: each group's RequestCountPerTarget (Sum over the minute), their sum the one value returned."""
    ids = [f"group{index}" for index in range(len(args.target_group_arn_suffixes))]
    groups = [
        _Query(
            id=query_id,
            return_data=False,
            metric_stat=_MetricStat(
                stat="Sum",
                metric=_Metric(
                    namespace="AWS/ApplicationELB",
                    metric_name="RequestCountPerTarget",
                    dimensions=[
                        _Dimension(name="TargetGroup", value=suffix),
                        _Dimension(name="LoadBalancer", value=args.load_balancer_arn_suffix),
                    ],
                ),
            ),
        )
        for query_id, suffix in zip(ids, args.target_group_arn_suffixes, strict=True)
    ]
    total = _Query(
        id="requests_per_target", expression=" + ".join(ids), label="Requests per target, every group", return_data=True
    )
    return _Customized(metrics=[*groups, total])
