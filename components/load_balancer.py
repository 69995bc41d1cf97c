"""Load balancer: an internet-facing ALB, its security group, one target group of replicas (by IP),
and its listeners: HTTP forwarding, or with a certificate HTTPS forwarding and HTTP redirecting.
For ECS's own traffic shifting (blue/green, linear, canary): a second, alternate target group and the
listener rule(s) ECS moves between the two."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from components.aws_limits import name_problem
from components.aws_tables import TLS_POLICY, Algorithm
from components.errors import SettingsError
from components.options import ACCESS_LOG_PREFIX, TEST_HEADER, HealthCheck


@dataclass(frozen=True)
class Https:
    """Serve HTTPS on a domain of the user's: a listener on 443 and an alias record."""

    certificate_arn: pulumi.Input[str]
    """A validated ACM certificate for `domain` (see DnsValidatedCertificate)."""
    domain: str
    """The name users reach the ALB by, e.g. app.example.com."""
    zone_id: pulumi.Input[str]
    """The Route 53 hosted zone that owns `domain`; it gets an A alias record to the ALB (and an AAAA one
    when the ALB is dual-stack)."""


@dataclass(frozen=True)
class AccessLogs:
    bucket: pulumi.Input[str]
    """Bucket name; its policy must already let the region's ELB write, since AWS checks that when
    logging is turned on (pass an Output that depends on the bucket policy)."""
    prefix: str = ACCESS_LOG_PREFIX
    """Key prefix of the log objects. @default ACCESS_LOG_PREFIX, "alb"."""


@dataclass(frozen=True)
class LoadBalancerArgs:
    vpc_id: pulumi.Input[str]
    """The VPC of the subnets and the replicas."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """Public subnets in at least two zones: one ALB node goes in each."""
    target_port: int
    """Port the replicas listen on; the target group sends traffic and health checks there."""
    ipv6_targets: bool = True
    """The replicas have IPv6 addresses only: the ALB is dual-stack (IPv4 and IPv6 clients alike reach it;
    its subnets need both blocks) and its target groups hold replicas by IPv6 address, as ECS requires of an
    IPv6-only service (docs/ipv6.md). @default True; False: an IPv4 ALB with IPv4 targets."""
    health_check: HealthCheck = HealthCheck()
    """@default HealthCheck(): /health every 5 s, healthy after 2 passes."""
    algorithm: Algorithm = "round_robin"
    """How the target group picks a replica. @default "round_robin", the one an even split of
    request counts can be checked against."""
    deregistration_delay_seconds: int = 5
    """Seconds a leaving replica keeps serving requests in flight. @default 5 (AWS: 300, which
    every deploy and destroy waits for); 0 turns those requests into 502s."""
    idle_timeout_seconds: int = 60
    """Seconds an idle client connection stays open. @default 60 (AWS's); replicas keep theirs
    longer, so the ALB, not a replica, closes idle connections."""
    https: Https | None = None
    """@default None: plain HTTP on the ALB's own DNS name."""
    access_logs: AccessLogs | None = None
    """@default None: no access logs (ELB.5 wants them in prod)."""
    deletion_protection: bool = False
    """Refuse to delete the ALB until this is turned off (ELB.6). @default False, so dev stacks
    tear down in one step."""
    cross_zone: bool = True
    """Every ALB node routes to the replicas of every zone. @default True (the ALB's own setting);
    False keeps each node to its zone's replicas, and zones with unequal replica counts then split
    unevenly."""
    traffic_shifting: bool = False
    """Declare the production listener rule ECS's blue/green, linear and canary deploys move traffic with: a
    forward to both target groups, whose weights are ECS's from then on. @default False: rolling deploys, the
    listener's default action forwards to the target group. The alternate target group exists in both cases
    (see `alternate_target_group`)."""
    test_listener_rule: bool = False
    """With traffic_shifting, a test listener rule: requests carrying TEST_HEADER reach the new revision
    before production traffic does. @default False."""


# What this component names from its own name; components/aws_limits.py holds AWS's rules for them.
_NAMED_HERE = (
    "aws:lb/loadBalancer:LoadBalancer",
    "aws:lb/targetGroup:TargetGroup",
    "aws:ec2/securityGroup:SecurityGroup",
)
# Listener rule priorities (lower is matched first): test traffic before production traffic.
_TEST_RULE_PRIORITY = 1
_PRODUCTION_RULE_PRIORITY = 2


class LoadBalancer(pulumi.ComponentResource):
    """The single point of access: an internet-facing ALB in the public subnets whose target group
    holds the replicas by IP (Fargate tasks register by their private IP).

    Exposes `load_balancer`, `target_group` (the primary), `security_group`, `listener` (the one that forwards
    to the target group), `listeners` (all of them: a service attached to the target group must wait for these),
    `url` and `alternate_target_group`, the second group with the same health check and drain, declared for every
    strategy: ECS moves production between the two in a shifting deploy, and a rolling service registers its tasks
    in both, so a change of strategy never leaves production on a group without them (docs/configuration.md,
    "Changing the deployment strategy"). With traffic shifting also `production_listener_rule` and
    `test_listener_rule` (None unless asked for), otherwise both None; `serving_first()` orders the two groups by
    where production is forwarded now.
    """

    load_balancer: aws.lb.LoadBalancer
    target_group: aws.lb.TargetGroup
    alternate_target_group: aws.lb.TargetGroup
    production_listener_rule: aws.lb.ListenerRule | None
    test_listener_rule: aws.lb.ListenerRule | None
    security_group: aws.ec2.SecurityGroup
    listener: aws.lb.Listener
    listeners: list[aws.lb.Listener]
    alias_records: list[aws.route53.Record]
    dns_name: pulumi.Output[str]
    url: pulumi.Output[str]

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problem = name_problem(name, types=_NAMED_HERE)
        if problem:
            raise SettingsError(problem, argument="name")
        if args.test_listener_rule and not args.traffic_shifting:
            raise SettingsError("a test listener rule needs traffic_shifting", argument="test_listener_rule")
        super().__init__("alb-replicas:load_balancer:LoadBalancer", name, None, opts)
        child_opts = pulumi.ResourceOptions(parent=self)
        listener_ports = [443, 80] if args.https else [80]

        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-alb",
            vpc_id=args.vpc_id,
            description=f"{name} load balancer: listener ports from the internet, out only to the replicas",
            opts=child_opts,
        )
        # Each family its own rule: a rule takes one CIDR (cidr_ipv4 or cidr_ipv6).
        families = {"": {"cidr_ipv4": "0.0.0.0/0"}}
        if args.ipv6_targets:
            families["-ipv6"] = {"cidr_ipv6": "::/0"}
        for port in listener_ports:
            for suffix, world in families.items():
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-alb-in-{port}{suffix}",
                    security_group_id=self.security_group.id,
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    description=f"Clients from the internet on the {port} listener",
                    opts=child_opts,
                    **world,
                )

        self.load_balancer = aws.lb.LoadBalancer(
            f"{name}-alb",
            load_balancer_type="application",
            internal=False,
            ip_address_type="dualstack" if args.ipv6_targets else "ipv4",
            subnets=args.subnet_ids,
            security_groups=[self.security_group.id],
            drop_invalid_header_fields=True,  # ELB.4
            desync_mitigation_mode="defensive",  # ELB.12
            idle_timeout=args.idle_timeout_seconds,
            enable_deletion_protection=args.deletion_protection,  # ELB.6
            access_logs=(
                aws.lb.LoadBalancerAccessLogsArgs(
                    bucket=args.access_logs.bucket, prefix=args.access_logs.prefix, enabled=True
                )
                if args.access_logs
                else None
            ),
            opts=child_opts,
        )

        self.target_group = self._target_group(f"{name}-tg", args, child_opts)
        forward = [aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=self.target_group.arn)]
        redirect_to_https = [
            aws.lb.ListenerDefaultActionArgs(
                type="redirect",
                redirect=aws.lb.ListenerDefaultActionRedirectArgs(protocol="HTTPS", port="443", status_code="HTTP_301"),
            )
        ]  # ELB.1
        http = aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=self.load_balancer.arn,
            port=80,
            protocol="HTTP",
            default_actions=redirect_to_https if args.https else forward,
            opts=child_opts,
        )
        self.listener = http
        self.listeners = [http]
        self.alias_records = []

        if args.https:
            self.listener = aws.lb.Listener(
                f"{name}-https",
                load_balancer_arn=self.load_balancer.arn,
                port=443,
                protocol="HTTPS",
                ssl_policy=TLS_POLICY,
                certificate_arn=args.https.certificate_arn,
                default_actions=forward,
                opts=child_opts,
            )
            self.listeners = [self.listener, http]
            # A dual-stack ALB's name has A and AAAA records; the domain's alias answers both the same way.
            record_types = {"": "A", "-aaaa": "AAAA"} if args.ipv6_targets else {"": "A"}
            self.alias_records = [
                aws.route53.Record(
                    f"{name}-alias{suffix}",
                    zone_id=args.https.zone_id,
                    name=args.https.domain,
                    type=record_type,
                    aliases=[
                        aws.route53.RecordAliasArgs(
                            name=self.load_balancer.dns_name,
                            zone_id=self.load_balancer.zone_id,
                            evaluate_target_health=True,
                        )
                    ],
                    opts=child_opts,
                )
                for suffix, record_type in record_types.items()
            ]

        # Declared for every strategy (see the class's doc). "-alt", not "-tg-alt": "<name>-tg-alt" and Pulumi's
        # 8 characters passed the 32 AWS takes for a name of 18 or more characters. The alias keeps a group
        # declared under the old name (no replacement).
        self.alternate_target_group = self._target_group(
            f"{name}-alt",
            args,
            pulumi.ResourceOptions.merge(
                child_opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(name=f"{name}-tg-alt")])
            ),
        )
        self.production_listener_rule = None
        self.test_listener_rule = None
        if args.traffic_shifting:
            self._traffic_shifting_rules(name, args, child_opts)

        self.dns_name = self.load_balancer.dns_name
        self.url = (
            pulumi.Output.from_input(f"https://{args.https.domain}")
            if args.https
            else self.dns_name.apply(lambda dns: f"http://{dns}")
        )

        self.register_outputs(
            {
                "dns_name": self.dns_name,
                "url": self.url,
                "target_group_arn": self.target_group.arn,
                "security_group_id": self.security_group.id,
            }
        )

    def serving_first(self) -> pulumi.Output[tuple[str, str]]:
        """The two groups' ARNs, the one production is forwarded to now first.

        With traffic shifting, read from the production rule as ECS last left it (elasticloadbalancing:DescribeRules,
        through the provider's aws_lb_listener_rule data source): after every other shifting deploy production is on
        the alternate group. A rule created by this `pulumi up` reads as declared, the primary first. Without the
        rule (rolling), the listener's default action forwards to the primary group."""
        groups = pulumi.Output.all(self.target_group.arn, self.alternate_target_group.arn)
        if self.production_listener_rule is None:
            return groups.apply(lambda arns: (arns[0], arns[1]))
        live = aws.lb.get_listener_rule_output(
            arn=self.production_listener_rule.arn, opts=pulumi.InvokeOutputOptions(parent=self)
        )

        def ordered(values: list[Any]) -> tuple[str, str]:
            (primary, alternate), actions = values
            order = _serving_first(primary, alternate, actions)
            if order[0] == alternate:
                pulumi.log.info(
                    "production is on the alternate target group, where ECS's last deploy left it: the service names "
                    "it first, as ECS records it, and its load balancers do not change (docs/configuration.md, "
                    '"The serving group")',
                    resource=self,
                )
            return order

        return pulumi.Output.all(groups, live.actions).apply(ordered)

    @staticmethod
    def _target_group(resource_name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions) -> aws.lb.TargetGroup:
        """A target group of replicas by IP; the primary and the alternate group are both this one."""
        health = args.health_check
        # No fixed `name`: auto-naming gives a replacement a new name, so Pulumi can create it,
        # move the listener over and only then delete the old one (a fixed name makes that fail).
        return aws.lb.TargetGroup(
            resource_name,
            target_type="ip",
            ip_address_type="ipv6" if args.ipv6_targets else "ipv4",
            protocol="HTTP",
            protocol_version="HTTP1",
            port=args.target_port,
            vpc_id=args.vpc_id,
            load_balancing_algorithm_type=args.algorithm,
            # Slow start and stickiness both skew the split by design.
            slow_start=0,
            # Said explicitly on the target group, whose default defers to the load balancer's.
            load_balancing_cross_zone_enabled="true" if args.cross_zone else "false",
            stickiness=aws.lb.TargetGroupStickinessArgs(type="lb_cookie", enabled=False),
            deregistration_delay=args.deregistration_delay_seconds,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTP",
                port="traffic-port",
                path=health.path,
                matcher="200",
                interval=health.interval_seconds,
                timeout=health.timeout_seconds,
                healthy_threshold=health.healthy_threshold,
                unhealthy_threshold=health.unhealthy_threshold,
            ),
            opts=opts,
        )

    def _traffic_shifting_rules(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions) -> None:
        """The rules ECS rewrites: a forward to both groups, weighted 100/0.

        ECS rewrites the rules' forward weights at every deploy (and leaves the groups swapped after
        one), so Pulumi must not put them back: `ignore_changes` on the actions. An ALB's production
        listener rule must be a rule, not the listener's default action.

        Rolling deploys declare neither: back from a shifting strategy, Pulumi deletes them once the service's
        update is done, and the listener's default action then forwards to the primary group, where the rolling
        service has registered its new tasks (as in the alternate: ReplicaService).
        """
        both_groups = [
            aws.lb.ListenerRuleActionArgs(
                type="forward",
                forward=aws.lb.ListenerRuleActionForwardArgs(
                    target_groups=[
                        aws.lb.ListenerRuleActionForwardTargetGroupArgs(arn=self.target_group.arn, weight=100),
                        aws.lb.ListenerRuleActionForwardTargetGroupArgs(arn=self.alternate_target_group.arn, weight=0),
                    ],
                ),
            )
        ]
        moved_by_ecs = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["actions"]))
        self.production_listener_rule = aws.lb.ListenerRule(
            f"{name}-production",
            listener_arn=self.listener.arn,
            priority=_PRODUCTION_RULE_PRIORITY,
            conditions=[
                aws.lb.ListenerRuleConditionArgs(
                    path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=["/*"])
                )
            ],
            actions=both_groups,
            opts=moved_by_ecs,
        )
        if args.test_listener_rule:
            header, value = TEST_HEADER
            self.test_listener_rule = aws.lb.ListenerRule(
                f"{name}-test",
                listener_arn=self.listener.arn,
                priority=_TEST_RULE_PRIORITY,
                conditions=[
                    aws.lb.ListenerRuleConditionArgs(
                        http_header=aws.lb.ListenerRuleConditionHttpHeaderArgs(http_header_name=header, values=[value])
                    )
                ],
                actions=both_groups,
                opts=moved_by_ecs,
            )


def _serving_first(primary: str, alternate: str, actions: Sequence[Any]) -> tuple[str, str]:
    """(the group the rule forwards more of production to, the other); the primary first on a tie."""
    weights: dict[str, int] = {}
    for action in actions:
        for forward in _field(action, "forwards") or []:
            for group in _field(forward, "target_groups") or []:
                weights[_field(group, "arn")] = int(_field(group, "weight") or 0)
    if weights.get(alternate, 0) > weights.get(primary, 0):
        return alternate, primary
    return primary, alternate


def _field(value: Any, name: str) -> Any:
    """A field of an invoke's result, an object in a deployment and a dict under the mocks."""
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)
