"""Replica service: N copies of one container on ECS Fargate, each its own task with its own IP in
the given subnets, registered in the load balancer's target group. Deploys roll tasks over in place,
or (blue/green, linear, canary) ECS shifts traffic between two target groups itself."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws_limits import derived_name_problem, replica_log_group
from components.aws_tables import CpuArchitecture, fargate_size_problem
from components.deploy_hook import DeployHook
from components.errors import SettingsError
from components.options import (
    DEPLOYMENT_MAXIMUM_PERCENT,
    DEPLOYMENT_MINIMUM_HEALTHY_PERCENT,
    STEADY_STATE_TIMEOUT_MAX_SECONDS,
    Capacity,
    DeploymentStrategy,
    HealthCheck,
    StopTiming,
)
from replica.nginx import CONFIG_ENV_VAR, STOP_DELAY_ENV_VAR, container_command, container_config

CONTAINER_NAME = "replica"
# What this component names from its own name; components/aws_limits.py holds AWS's rules for them.
_NAMED_HERE = (
    "aws:ecs/cluster:Cluster",
    "aws:ecs/service:Service",
    "aws:ecs/taskDefinition:TaskDefinition",
    "aws:iam/role:Role",
    "aws:ec2/securityGroup:SecurityGroup",
    "aws:cloudwatch/logGroup:LogGroup",
)
# The stop of a replica behind the default health check (Container.stop).
_DEFAULT_STOP = StopTiming.of(HealthCheck())


@dataclass(frozen=True)
class Container:
    """What each replica runs."""

    image: str
    """Image reference, pinned by version tag or digest."""
    port: int
    """Port the container listens on; the target group sends traffic there."""
    health_check_path: str = "/health"
    """Path that answers 200 while the replica is fit to serve. @default "/health"."""
    user: str = "101:101"
    """uid:gid to run as (ECS.20). @default "101:101", the nginx image's unprivileged user."""
    nginx_replica_config: bool = True
    """Give the (stock nginx) image the replica config at start, so it answers the response
    contract of `replica`. @default True; False for an image that serves the contract itself."""
    listen_ipv6: bool = True
    """The nginx replica listens on the task's IPv6 addresses too, as an IPv6-only task needs (its load balancer
    reaches it over IPv6). @default True; False: IPv4 only, as an IPv4 task needs no more."""
    stop: StopTiming = _DEFAULT_STOP
    """On its stop signal the replica fails its health check while it serves for `stop.delay_seconds`
    (until every balancer node has stopped sending to it; a Fargate Spot interruption signals a task
    that is still registered), then stops gracefully; `stop.timeout_seconds` is the container's
    stopTimeout. @default StopTiming.of(HealthCheck()): the default health check's, 13 s and 43 s.
    Another image gets the stop timeout and should do the same on SIGTERM."""


@dataclass(frozen=True)
class TrafficShift:
    """The listener rules ECS moves traffic with in a blue/green, linear or canary deploy (see LoadBalancer)."""

    production_listener_rule_arn: pulumi.Input[str]
    """The listener rule ECS rewrites from the one group to the other."""
    test_listener_rule_arn: pulumi.Input[str] | None = None
    """The rule that sends test traffic to the new revision first. @default None: no test traffic."""


@dataclass(frozen=True)
class ReplicaServiceArgs:
    vpc_id: pulumi.Input[str]
    """The VPC of the subnets."""
    subnet_ids: pulumi.Input[Sequence[str]]
    """Subnets the tasks run in; ECS spreads tasks over their zones."""
    target_group_arn: pulumi.Input[str]
    """Target group the tasks register in, by IP: the primary."""
    load_balancer_security_group_id: pulumi.Input[str]
    """The ALB's security group: the only source allowed to reach the replicas."""
    listeners: Sequence[pulumi.Resource]
    """The listeners that use the target group. ECS refuses a target group no load balancer uses
    yet ("does not have an associated load balancer"), so the service waits for them."""
    container: Container
    """What each replica runs."""
    replicas: int = 2
    """Tasks to keep running. @default 2: one per zone of a two-zone VPC."""
    cpu: int = 256
    """Task CPU units. @default 256 (0.25 vCPU), the smallest Fargate size; plenty for nginx."""
    memory: int = 512
    """Task memory in MiB, a Fargate pair with cpu. @default 512."""
    ipv6_only: bool = True
    """The subnets are IPv6-only: the replicas go out over IPv6 only (HTTPS to ::/0 through the egress-only
    gateway). @default True; False: out over IPv4 (0.0.0.0/0)."""
    assign_public_ip: bool = False
    """Give each task a public IP. @default False (ECS.2); True only for IPv4 replicas in public subnets
    without a NAT gateway, where it is the task's only way to pull its image."""
    health_check_grace_period_seconds: int = 30
    """Seconds ECS ignores failed ALB health checks of a new task. @default 30."""
    log_retention_days: int = 7
    """Days container logs are kept. @default 7."""
    container_insights: bool = True
    """Container Insights metrics on the cluster (ECS.12). @default True."""
    capacity: Capacity = Capacity()
    """Fargate on demand, Spot, or both. @default Capacity(): on demand, no interruptions."""
    cpu_architecture: CpuArchitecture = "ARM64"
    """The task's CPU: "ARM64" (Graviton, about 20 % cheaper per vCPU and GB) or "X86_64".
    @default "ARM64": the stock nginx image is multi-architecture; an x86-only image needs "X86_64"
    (an ARM64 task of an x86-only image exits at start with "exec format error")."""
    autoscaled: bool = False
    """Application Auto Scaling owns the task count. @default False. When True, `pulumi up` leaves
    the running count alone instead of resetting it to `replicas`."""
    deployment: DeploymentStrategy = DeploymentStrategy()
    """How a deploy moves traffic to the new revision. @default DeploymentStrategy(): ECS's rolling
    update. Any other strategy needs `traffic_shift`."""
    alternate_target_group_arn: pulumi.Input[str] | None = None
    """The second target group. A shifting deploy registers the new revision there while the old serves; a
    rolling service registers every task in both groups, so whichever of the two a shifting deploy left
    production on holds the new tasks before the old ones stop (a rolling deploy starts the new tasks, then
    stops the old). @default None: one group, for a service no shifting strategy ever deployed; required with
    `traffic_shift`."""
    rollback_alarm_names: pulumi.Input[Sequence[str]] | None = None
    """CloudWatch alarms that roll a shifting deploy back when they fire (see RollbackAlarms). A rolling
    service states them disabled: the provider sends nothing for an alarms block left out, and ECS would keep
    rolling back on them. @default None: no alarms block, for a service no shifting strategy ever deployed;
    required with `traffic_shift`."""
    traffic_shift: TrafficShift | None = None
    """The listener rule(s) ECS shifts traffic with. @default None: exactly when `deployment` is rolling (ECS
    refuses a shifting strategy without them)."""
    deploy_hook: DeployHook | None = None
    """verify as ECS's lifecycle hook: configured in every shifting deploy, judging when `deployment.hook`
    (deploymentVerify), else letting each stage through and saying so. Given whatever the strategy, once a hook was
    ever configured: ECS keeps the last hook the provider sent (it sends none for an empty list), and a later
    shifting deploy would call it. @default None: no hook, for a service no hook was ever configured on."""
    steady_state_timeout_seconds: int = 1200
    """How long `pulumi up` waits for the service to be steady after a create or update, then fails.
    @default 1200, the provider's own 20 minutes; the stack passes its deploy's worst case plus a
    margin (estimate.deploy_timing), so a Spot shortage, which ECS never falls back from, fails the
    update in minutes instead of holding it silently."""


class ReplicaService(pulumi.ComponentResource):
    """An ECS cluster and a Fargate service of `replicas` tasks behind a target group.

    Deploys never drop below `replicas` healthy tasks (minimum 100 %, maximum 200 %), a deploy whose
    tasks keep failing rolls back (circuit breaker), and `pulumi up` returns only once the service
    is steady, or fails after `steady_state_timeout_seconds`. Exposes `cluster`, `capacity_providers`,
    `service`, `task_definition`, `security_group`, `log_group`, `execution_role`,
    `execution_role_policy` and `task_role`.
    """

    cluster: aws.ecs.Cluster
    capacity_providers: aws.ecs.ClusterCapacityProviders
    service: aws.ecs.Service
    task_definition: aws.ecs.TaskDefinition
    security_group: aws.ec2.SecurityGroup
    log_group: aws.cloudwatch.LogGroup
    execution_role: aws.iam.Role
    execution_role_policy: aws.iam.RolePolicyAttachment
    task_role: aws.iam.Role
    infrastructure_role: aws.iam.Role | None
    infrastructure_role_policy: aws.iam.RolePolicyAttachment | None

    def __init__(self, name: str, args: ReplicaServiceArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        problem = fargate_size_problem(args.cpu, args.memory) or args.container.stop.problem()
        if problem:
            raise SettingsError(problem)
        if args.replicas < 1:
            raise SettingsError(f"{args.replicas} is too few; allowed: 1 or more", argument="replicas")
        problem = derived_name_problem(name, types=_NAMED_HERE)
        if problem:
            raise SettingsError(problem, argument="name")
        family = f"{name}-replica"
        on_demand_base = args.capacity.on_demand_base
        if on_demand_base < 0 or (on_demand_base and not args.capacity.spot):
            raise SettingsError(f"{on_demand_base}; allowed: 0 or more, with spot", argument="capacity.on_demand_base")
        if args.assign_public_ip and args.ipv6_only:
            raise SettingsError(
                "a public IPv4 address on a task in an IPv6-only subnet, which has no IPv4; allowed: False",
                argument="assign_public_ip",
            )
        deployment = args.deployment
        if deployment.shifts_traffic != (args.traffic_shift is not None):
            raise SettingsError(
                f"{deployment.kind} with{'out' if args.traffic_shift is None else ''} traffic_shift; allowed: "
                "traffic_shift exactly for blue-green, linear and canary",
                argument="deployment",
            )
        if args.traffic_shift is not None:
            for argument in ("alternate_target_group_arn", "rollback_alarm_names"):
                if getattr(args, argument) is None:
                    raise SettingsError(
                        f"None with {deployment.kind}; allowed: given with traffic_shift", argument=argument
                    )
        shift, hook = args.traffic_shift, args.deploy_hook
        lifecycle_hook = (
            hook.lifecycle_hook(deployment, shift.production_listener_rule_arn, shift.test_listener_rule_arn)
            if hook is not None and shift is not None
            else None
        )
        if not 1 <= args.steady_state_timeout_seconds <= STEADY_STATE_TIMEOUT_MAX_SECONDS:
            raise SettingsError(
                f"{args.steady_state_timeout_seconds}; allowed: 1 to {STEADY_STATE_TIMEOUT_MAX_SECONDS} seconds",
                argument="steady_state_timeout_seconds",
            )
        super().__init__("alb-replicas:service:ReplicaService", name, None, opts)
        child_opts = pulumi.ResourceOptions(parent=self)
        container = args.container

        self.cluster = aws.ecs.Cluster(
            f"{name}-cluster",
            settings=[
                aws.ecs.ClusterSettingArgs(
                    name="containerInsights", value="enabled" if args.container_insights else "disabled"
                )
            ],
            opts=child_opts,
        )
        # Both Fargate providers on the cluster, so a change of `capacity` changes only the
        # service's strategy. FARGATE_SPOT runs ARM64 tasks on platform 1.4.0 and later (the ECS
        # API reference's CapacityProviderStrategyItem; older user-guide pages still say X86_64 only).
        # The cluster's default strategy is the service's, for tasks started by hand (aws ecs run-task).
        self.capacity_providers = aws.ecs.ClusterCapacityProviders(
            f"{name}-capacity",
            cluster_name=self.cluster.name,
            capacity_providers=["FARGATE", "FARGATE_SPOT"],
            default_capacity_provider_strategies=[
                aws.ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs(
                    capacity_provider=provider, base=base, weight=weight
                )
                for provider, base, weight in args.capacity.strategy()
            ],
            opts=child_opts,
        )
        # Named by the program, not by AWS: the container definitions that name the group are then known
        # in a first preview, where the policy pack reads them (ECS.4, .5, .8, .9, .20).
        log_group_name = replica_log_group(name)  # "/ecs/<family>", the ECS console's convention
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=log_group_name, retention_in_days=args.log_retention_days, opts=child_opts
        )

        # Two roles: the execution role is ECS's own (pull the image, write logs), the task role is
        # the replica's, which calls no AWS API and so gets no permission at all.
        account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        # An invoke, which a preview runs too: unlike an output of a resource not created yet, it is known.
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region
        # The provider's own answer, from the endpoints data it ships: it knows every partition (China, GovCloud,
        # the European Sovereign Cloud, the isolated ones) where a table of region prefixes knows a few.
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self)).partition

        def managed_policy(resource_name: str, role: aws.iam.Role, path: str) -> aws.iam.RolePolicyAttachment:
            """An AWS managed policy in the stack's partition: aws.iam.ManagedPolicy's constants are
            "arn:aws:...", which IAM does not find in another partition (arn:aws-cn:, arn:aws-us-gov:, ...)."""
            arn = pulumi.Output.format("arn:{0}:iam::aws:policy/{1}", partition, path)
            return aws.iam.RolePolicyAttachment(resource_name, role=role.name, policy_arn=arn, opts=child_opts)

        self.execution_role = self._service_role(
            f"{name}-execution", "ECS pulls the replica image and writes its logs", account_id, "ecs-tasks"
        )
        self.execution_role_policy = managed_policy(
            f"{name}-execution", self.execution_role, "service-role/AmazonECSTaskExecutionRolePolicy"
        )
        self.task_role = self._service_role(
            f"{name}-task", "The replica's own AWS identity: no permissions", account_id, "ecs-tasks"
        )
        self.infrastructure_role = None
        self.infrastructure_role_policy = None
        if args.traffic_shift is not None:
            # ECS's infrastructure role for load balancers: AWS's managed policy is scoped to what a
            # shifting deploy does (describe, register and deregister targets, modify listener rules).
            self.infrastructure_role = self._service_role(
                f"{name}-infrastructure", "ECS shifts traffic between the replicas' target groups", account_id, "ecs"
            )
            self.infrastructure_role_policy = managed_policy(
                f"{name}-infrastructure", self.infrastructure_role, "AmazonECSInfrastructureRolePolicyForLoadBalancers"
            )

        # The hook reads this cluster's tasks: allowed before the service exists, whose deploys call it.
        hook_reads = hook.allow_reading(self.cluster, child_opts) if hook is not None else None

        container_definitions = region.apply(
            lambda region_name: json.dumps(
                [_container_definition(container, log_group=log_group_name, region=region_name)]
            )
        )
        self.task_definition = aws.ecs.TaskDefinition(
            f"{name}-task",
            family=family,
            requires_compatibilities=["FARGATE"],
            network_mode="awsvpc",  # each task its own network interface and IP (ECS.17)
            cpu=str(args.cpu),
            memory=str(args.memory),
            runtime_platform=aws.ecs.TaskDefinitionRuntimePlatformArgs(
                operating_system_family="LINUX", cpu_architecture=args.cpu_architecture
            ),
            execution_role_arn=self.execution_role.arn,
            task_role_arn=self.task_role.arn,
            container_definitions=container_definitions,
            # The JSON names the log group as plain text; tasks log to it from their first start.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group]),
        )

        family = "IPv6" if args.ipv6_only else "IPv4"
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-replicas",
            vpc_id=args.vpc_id,
            description=f"{name} replicas: in only from the load balancer, out only HTTPS over {family}",
            opts=child_opts,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-alb",
            security_group_id=self.security_group.id,
            referenced_security_group_id=args.load_balancer_security_group_id,
            ip_protocol="tcp",
            from_port=container.port,
            to_port=container.port,
            description="Requests and health checks from the load balancer",
            opts=child_opts,
        )
        world = {"cidr_ipv6": "::/0"} if args.ipv6_only else {"cidr_ipv4": "0.0.0.0/0"}
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-https-out",
            security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description=f"Image pulls from the registry and log delivery to CloudWatch Logs, over {family}",
            opts=child_opts,
            **world,
        )
        # No ICMPv6 rule: security groups are stateful, so the ICMP answers to the replicas' own connections (path
        # MTU discovery's Packet Too Big among them) come in without one (EC2 user guide, "Network maximum
        # transmission unit (MTU) for your EC2 instance", "Path MTU Discovery"); neighbor discovery never meets a
        # security group, and the VPC's default network ACL allows both families, ICMPv6 included.
        # The other half of the one path: the ALB's security group may send only to the replicas.
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-alb-to-replicas",
            security_group_id=args.load_balancer_security_group_id,
            referenced_security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=container.port,
            to_port=container.port,
            description="Requests and health checks to the replicas",
            opts=child_opts,
        )

        self.service = aws.ecs.Service(
            f"{name}-service",
            cluster=self.cluster.arn,
            task_definition=self.task_definition.arn,
            desired_count=args.replicas,
            # A strategy, not launch_type (the two conflict). A change of strategy is an update in place
            # (UpdateService; terraform-provider-aws PR #43533, July 2025, which pulumi-aws 7 builds on): the
            # provider refuses it at plan time without force_new_deployment, and ECS refuses it too ("you
            # must force a new deployment"); with it, the tasks move in an ordinary rolling deploy.
            capacity_provider_strategies=[
                aws.ecs.ServiceCapacityProviderStrategyArgs(capacity_provider=provider, base=base, weight=weight)
                for provider, base, weight in args.capacity.strategy()
            ],
            force_new_deployment=True,
            platform_version="LATEST",  # ECS.10
            network_configuration=aws.ecs.ServiceNetworkConfigurationArgs(
                subnets=args.subnet_ids,
                security_groups=[self.security_group.id],
                assign_public_ip=args.assign_public_ip,
            ),
            # A change of strategy either way is one update (docs/configuration.md, "Changing the deployment
            # strategy"): the provider sends loadBalancers, strategy and alarms as they changed (the strategy stated,
            # the alarms block stated: see _deployment_configuration and _alarms), and Pulumi deletes the rules and
            # role a rolling service no longer names only after this update is steady.
            load_balancers=self._load_balancers(args),
            deployment_configuration=_deployment_configuration(deployment, lifecycle_hook),
            alarms=_alarms(args),
            health_check_grace_period_seconds=args.health_check_grace_period_seconds,
            deployment_minimum_healthy_percent=DEPLOYMENT_MINIMUM_HEALTHY_PERCENT,
            deployment_maximum_percent=DEPLOYMENT_MAXIMUM_PERCENT,
            deployment_circuit_breaker=aws.ecs.ServiceDeploymentCircuitBreakerArgs(enable=True, rollback=True),
            availability_zone_rebalancing="ENABLED",
            propagate_tags="SERVICE",
            enable_ecs_managed_tags=True,
            # `pulumi up` returns once the service is steady, and fails after the bound: ECS never moves a
            # task it cannot place on FARGATE_SPOT to FARGATE (aws/containers-roadmap #852), so a Spot
            # shortage would hold the update for the provider's full 20 minutes.
            wait_for_steady_state=True,
            opts=pulumi.ResourceOptions(
                parent=self,
                custom_timeouts=pulumi.CustomTimeouts(
                    create=f"{args.steady_state_timeout_seconds}s", update=f"{args.steady_state_timeout_seconds}s"
                ),
                # The listeners: ECS refuses a target group no load balancer uses yet. The execution
                # role's policy: the role exists before its permissions do, and tasks started in
                # between cannot pull the image or write logs. The strategy's providers: ECS refuses a
                # provider the cluster does not have.
                # The infrastructure role's policy, likewise, before ECS first moves a listener rule.
                depends_on=[
                    *args.listeners,
                    self.execution_role_policy,
                    self.capacity_providers,
                    *([self.infrastructure_role_policy] if self.infrastructure_role_policy else []),
                    # The hook's permissions, likewise, before ECS first calls it.
                    *([hook_reads, hook.invoke_policy] if hook is not None and hook_reads is not None else []),
                ],
                ignore_changes=["desiredCount"] if args.autoscaled else None,
            ),
        )

        self.register_outputs(
            {
                "cluster_name": self.cluster.name,
                "service_name": self.service.name,
                "task_definition_arn": self.task_definition.arn,
                "security_group_id": self.security_group.id,
            }
        )

    def _load_balancers(self, args: ReplicaServiceArgs) -> list[aws.ecs.ServiceLoadBalancerArgs]:
        """Shifting: the primary group with ECS's advanced configuration (the alternate group, the rules, the
        infrastructure role). Rolling: each task in the primary and the alternate group, plain. ECS's API
        reference, UpdateService's loadBalancers: a rolling service may go from one target group to several and
        back, and a change "starts new tasks with the updated Elastic Load Balancing configuration, and then stops
        the old tasks when the new tasks are running"; ECS's developer guide, "Registering multiple target groups
        with a service"."""
        container = args.container

        def balancer(
            target_group_arn: pulumi.Input[str],
            advanced: aws.ecs.ServiceLoadBalancerAdvancedConfigurationArgs | None = None,
        ) -> aws.ecs.ServiceLoadBalancerArgs:
            return aws.ecs.ServiceLoadBalancerArgs(
                target_group_arn=target_group_arn,
                container_name=CONTAINER_NAME,
                container_port=container.port,
                advanced_configuration=advanced,
            )

        shift = args.traffic_shift
        if shift is not None and self.infrastructure_role is not None and args.alternate_target_group_arn is not None:
            return [
                balancer(
                    args.target_group_arn,
                    aws.ecs.ServiceLoadBalancerAdvancedConfigurationArgs(
                        alternate_target_group_arn=args.alternate_target_group_arn,
                        production_listener_rule=shift.production_listener_rule_arn,
                        test_listener_rule=shift.test_listener_rule_arn,
                        role_arn=self.infrastructure_role.arn,
                    ),
                )
            ]
        groups = [args.target_group_arn]
        if args.alternate_target_group_arn is not None:
            groups.append(args.alternate_target_group_arn)
        return [balancer(group) for group in groups]

    def _service_role(self, name: str, description: str, account_id: pulumi.Output[str], service: str) -> aws.iam.Role:
        """A role only `service` can assume: "ecs-tasks" the tasks' (execution and task roles), for this account
        only (the ECS developer guide's "Amazon ECS task IAM role" trust policy, whose aws:SourceAccount condition
        stops a confused deputy); "ecs" ECS's own infrastructure role for load balancers, with the trust policy
        AWS documents for it, as written there ("Amazon ECS infrastructure IAM role for load balancers"): no
        condition, since no AWS page says ECS sends aws:SourceAccount when it assumes that role, and a condition
        on a key it does not send would refuse ECS at its first traffic shift."""
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": f"{service}.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
        trust_policy = account_id.apply(
            lambda account: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Sid": "AllowAccessToECSForInfrastructureManagement", **statement}
                        if service == "ecs"
                        else {**statement, "Condition": {"StringEquals": {"aws:SourceAccount": account}}}
                    ],
                }
            )
        )
        return aws.iam.Role(
            name, description=description, assume_role_policy=trust_policy, opts=pulumi.ResourceOptions(parent=self)
        )


def _deployment_configuration(
    deployment: DeploymentStrategy,
    lifecycle_hook: aws.ecs.ServiceDeploymentConfigurationLifecycleHookArgs | None = None,
) -> aws.ecs.ServiceDeploymentConfigurationArgs:
    """ECS's deployment strategy as the provider takes it (minutes as strings), with the hook at its stages;
    rolling stated too.

    terraform-provider-aws (internal/service/ecs/service.go), which pulumi-aws bridges: `deployment_configuration`
    is Optional and Computed, so a block left out keeps the strategy last read from ECS and UpdateService is never
    told; a rolling service therefore states "ROLLING". Its bake minutes are not stated: they too are Computed, and
    the provider sends the value it holds (ECS's own, read back) only with a strategy it sends. Lifecycle hooks are
    sent only when there are some (`len(hooks) > 0`, in create and update alike): an empty list is never sent, and
    ECS keeps the hooks it has (docs/configuration.md, "The deploy hook across changes"). So a shifting deploy
    always names the hook (judging or not, DeployHook), and the hook's function and role outlive rolling."""
    if not deployment.shifts_traffic:
        return aws.ecs.ServiceDeploymentConfigurationArgs(strategy=deployment.ecs_strategy)
    step_bake = str(deployment.step_bake_minutes)
    return aws.ecs.ServiceDeploymentConfigurationArgs(
        strategy=deployment.ecs_strategy,
        bake_time_in_minutes=str(deployment.bake_minutes),
        linear_configuration=(
            aws.ecs.ServiceDeploymentConfigurationLinearConfigurationArgs(
                step_percent=deployment.percent, step_bake_time_in_minutes=step_bake
            )
            if deployment.kind == "linear"
            else None
        ),
        canary_configuration=(
            aws.ecs.ServiceDeploymentConfigurationCanaryConfigurationArgs(
                canary_percent=deployment.percent, canary_bake_time_in_minutes=step_bake
            )
            if deployment.kind == "canary"
            else None
        ),
        lifecycle_hooks=[lifecycle_hook] if lifecycle_hook is not None else None,
    )


def _alarms(args: ReplicaServiceArgs) -> aws.ecs.ServiceAlarmsArgs | None:
    """Shifting: the rollback alarms, enabled. Rolling: the same alarms disabled, stated. The provider's `alarms`
    block has DiffSuppressFunc SuppressMissingOptionalConfigurationBlock (terraform-provider-aws,
    internal/service/ecs/service.go): a block left out is no change, UpdateService is not told, and ECS would go on
    watching them (its DeploymentAlarms: alarmNames, enable and rollback all required)."""
    if args.rollback_alarm_names is None:
        return None
    shifting = args.deployment.shifts_traffic
    return aws.ecs.ServiceAlarmsArgs(alarm_names=args.rollback_alarm_names, enable=shifting, rollback=shifting)


def _container_definition(container: Container, *, log_group: str, region: str) -> dict:
    """The replica's container definition, in the JSON shape ECS takes."""
    definition: dict = {
        "name": CONTAINER_NAME,
        "image": container.image,
        "essential": True,
        "user": container.user,  # ECS.20
        "readonlyRootFilesystem": True,  # ECS.5
        "privileged": False,  # ECS.4
        "portMappings": [{"containerPort": container.port, "protocol": "tcp"}],
        # Room for the stop delay and a graceful stop before SIGKILL (ECS's default of 30 s is not).
        "stopTimeout": container.stop.timeout_seconds,
        "logConfiguration": {  # ECS.9
            "logDriver": "awslogs",
            "options": {
                "awslogs-group": log_group,
                "awslogs-region": region,
                "awslogs-stream-prefix": CONTAINER_NAME,
            },
        },
    }
    if container.nginx_replica_config:
        definition["command"] = container_command()
        definition["environment"] = [
            {
                "name": CONFIG_ENV_VAR,
                "value": container_config(
                    port=container.port, health_path=container.health_check_path, ipv6=container.listen_ipv6
                ),
            },
            {"name": STOP_DELAY_ENV_VAR, "value": str(container.stop.delay_seconds)},
        ]
    return definition
