"""Autoscaling: the replica count follows load between a floor and a ceiling."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class ServiceAutoscalingArgs:
    cluster_name: pulumi.Input[str]
    """The service's ECS cluster."""
    service_name: pulumi.Input[str]
    """The ECS service to scale; create it with `autoscaled=True` so `pulumi up` leaves its count."""
    request_count_label: pulumi.Input[str]
    """`app/<alb>/<id>/targetgroup/<tg>/<id>`: the ALB's and target group's arn_suffix joined."""
    min_replicas: int
    """Floor of the task count."""
    max_replicas: int
    """Ceiling of the task count."""
    requests_per_target: int = 1000
    """Target of ALBRequestCountPerTarget: requests per replica per minute. @default 1000."""
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
            metric: aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs,
            target_value: int,
        ) -> aws.appautoscaling.Policy:
            return aws.appautoscaling.Policy(
                f"{name}-{policy_name}",
                policy_type="TargetTrackingScaling",
                service_namespace=self.target.service_namespace,
                scalable_dimension=self.target.scalable_dimension,
                resource_id=self.target.resource_id,
                target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                    predefined_metric_specification=metric,
                    target_value=target_value,
                    scale_out_cooldown=args.scale_out_cooldown_seconds,
                    scale_in_cooldown=args.scale_in_cooldown_seconds,
                ),
                opts=child_opts,
            )

        metric = aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs
        self.request_count_policy = target_tracking(
            "requests",
            metric(predefined_metric_type="ALBRequestCountPerTarget", resource_label=args.request_count_label),
            args.requests_per_target,
        )
        self.cpu_policy = target_tracking(
            "cpu", metric(predefined_metric_type="ECSServiceAverageCPUUtilization"), args.cpu_target_percent
        )

        self.register_outputs({"resource_id": self.target.resource_id})
