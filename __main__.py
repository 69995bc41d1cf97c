"""alb-replicas: N replicas on ECS Fargate behind one Application Load Balancer.

Reads the stack's settings once (settings.py), composes the components, and exports what a user
needs next: the URL to `verify`, and the names to find everything in the AWS console or CLI.
"""

import pulumi
import pulumi_aws as aws

import settings as stack_settings
from components.access_log_bucket import AccessLogBucket, AccessLogBucketArgs
from components.access_log_table import AccessLogTable, AccessLogTableArgs
from components.autoscaling import ServiceAutoscaling, ServiceAutoscalingArgs
from components.aws_limits import athena_database_name
from components.certificate import DnsValidatedCertificate, DnsValidatedCertificateArgs
from components.deploy_hook import DeployHook, DeployHookArgs
from components.errors import SettingsError
from components.load_balancer import AccessLogs, Https, LoadBalancer, LoadBalancerArgs
from components.network import Network, NetworkArgs
from components.options import DEPLOYMENT_MAXIMUM_PERCENT
from components.rollback_alarms import RollbackAlarms, RollbackAlarmsArgs
from components.service import Container, ReplicaService, ReplicaServiceArgs, TrafficShift
from components.verify_access import VerifyAccess, VerifyAccessArgs
from estimate.cost import monthly_cost
from estimate.deploy_timing import deploy_timing
from stack_config import PROJECT_DIR


def main() -> None:
    try:
        compose(stack_settings.from_pulumi())
    except SettingsError as error:
        # RunError: Pulumi prints the message alone, without a traceback, on one line. Bad stack
        # settings stop before anything is declared; what only the region shows (too few zones) stops
        # in Network, in its own words, which name the stack key here.
        raise pulumi.RunError(stack_settings.in_stack_keys(error).one_line()) from None


def compose(settings: stack_settings.StackSettings) -> None:
    """Declare the stack's resources and exports."""
    name = settings.name_prefix

    network = Network(
        name,
        NetworkArgs(
            az_count=settings.az_count,
            cidr_block=settings.vpc_cidr,
            replica_addressing=settings.replica_addressing,
            nat_gateways=settings.nat_gateways,
            flow_logs=settings.flow_logs,
            log_retention_days=settings.log_retention_days,
        ),
    )

    https = None
    if settings.domain is not None and settings.zone is not None:
        zone_id = aws.route53.get_zone_output(name=settings.zone, private_zone=False).zone_id
        certificate = DnsValidatedCertificate(
            name, DnsValidatedCertificateArgs(domain=settings.domain, zone_id=zone_id)
        )
        https = Https(certificate_arn=certificate.certificate_arn, domain=settings.domain, zone_id=zone_id)

    access_logs = None
    log_table = None
    if settings.access_logs:
        log_bucket = AccessLogBucket(name, AccessLogBucketArgs(retention_days=settings.access_log_retention_days))
        access_logs = AccessLogs(bucket=log_bucket.bucket_name, prefix=log_bucket.prefix)
        # Athena over the logs, where they lie: what `verify --access-logs --engine athena` queries.
        log_table = AccessLogTable(
            name,
            AccessLogTableArgs(
                log_bucket=log_bucket.bucket_name,
                log_prefix=access_logs.prefix,
                database_name=athena_database_name(name),
                workgroup_name=f"{name}-access-logs",
            ),
        )

    load_balancer = LoadBalancer(
        name,
        LoadBalancerArgs(
            vpc_id=network.vpc_id,
            subnet_ids=network.public_subnet_ids,
            target_port=settings.container_port,
            ipv6_targets=network.ipv6,
            health_check=settings.health_check,
            algorithm=settings.algorithm,
            deregistration_delay_seconds=settings.deregistration_delay_seconds,
            https=https,
            access_logs=access_logs,
            deletion_protection=settings.deletion_protection,
            cross_zone=settings.cross_zone,
            traffic_shifting=settings.deployment_strategy.shifts_traffic,
            test_listener_rule=settings.deployment_strategy.shifts_traffic and settings.deployment_test_traffic,
        ),
    )

    # The rollback alarms exist for every strategy: a rolling service states them disabled (ReplicaService).
    rollback_alarms = RollbackAlarms(
        name,
        RollbackAlarmsArgs(
            load_balancer_arn_suffix=load_balancer.load_balancer.arn_suffix,
            timing=settings.rollback_alarm_timing,
            target_group_arn_suffixes=[
                load_balancer.target_group.arn_suffix,
                load_balancer.alternate_target_group.arn_suffix,
            ],
        ),
    )
    # The deploy hook exists with every strategy and deploymentVerify: ECS keeps the last hook the provider sent
    # (it sends none for an empty list), so its function and role must outlive every configuration that named them;
    # a shifting deploy names it, judging or not (docs/configuration.md, "The deploy hook across changes").
    deploy_hook = DeployHook(
        name,
        DeployHookArgs(
            url=load_balancer.url,
            source_dir=PROJECT_DIR,
            algorithm=settings.algorithm,
            log_retention_days=settings.log_retention_days,
        ),
    )
    traffic_shift = None
    if load_balancer.production_listener_rule is not None:
        traffic_shift = TrafficShift(
            production_listener_rule_arn=load_balancer.production_listener_rule.arn,
            test_listener_rule_arn=load_balancer.test_listener_rule.arn if load_balancer.test_listener_rule else None,
        )

    serving = load_balancer.serving_first()
    timing = deploy_timing(settings, maximum_percent=DEPLOYMENT_MAXIMUM_PERCENT)
    replicas = ReplicaService(
        name,
        ReplicaServiceArgs(
            vpc_id=network.vpc_id,
            subnet_ids=network.replica_subnet_ids,
            ipv6_only=network.ipv6,
            assign_public_ip=network.task_public_ipv4,
            # Production's group first, as ECS last left it: `pulumi up` after a swap then declares no change to the
            # service's load balancers, and tells ECS the truth where its record says otherwise (docs/configuration.md).
            target_group_arn=serving.apply(lambda groups: groups[0]),
            alternate_target_group_arn=serving.apply(lambda groups: groups[1]),
            rollback_alarm_names=rollback_alarms.alarm_names,
            load_balancer_security_group_id=load_balancer.security_group.id,
            listeners=load_balancer.listeners,
            container=Container(
                image=settings.image,
                port=settings.container_port,
                health_check_path=settings.health_check_path,
                user=settings.container_user,
                nginx_replica_config=settings.serves_nginx_contract,
                listen_ipv6=network.ipv6,
                stop=settings.stop_timing,
            ),
            replicas=settings.replicas,
            cpu=settings.cpu,
            memory=settings.memory,
            health_check_grace_period_seconds=settings.health_check_grace_period_seconds,
            log_retention_days=settings.log_retention_days,
            container_insights=settings.container_insights,
            capacity=settings.capacity,
            cpu_architecture=settings.cpu_architecture,
            autoscaled=settings.autoscaling,
            deployment=settings.deployment_strategy,
            traffic_shift=traffic_shift,
            deploy_hook=deploy_hook,
            steady_state_timeout_seconds=timing["steady_state_timeout_seconds"],
        ),
    )

    if settings.autoscaling:
        ServiceAutoscaling(
            name,
            ServiceAutoscalingArgs(
                cluster_name=replicas.cluster.name,
                service_name=replicas.service.name,
                load_balancer_arn_suffix=load_balancer.load_balancer.arn_suffix,
                target_group_arn_suffixes=[
                    load_balancer.target_group.arn_suffix,
                    load_balancer.alternate_target_group.arn_suffix,
                ],
                min_replicas=settings.replicas,
                max_replicas=settings.max_replicas,
                requests_per_target=settings.requests_per_target,
                cpu_target_percent=settings.cpu_target_percent,
            ),
        )

    # What `verify` may call on this stack, as a policy for whoever runs it (a CI role) to attach.
    verify_access = VerifyAccess(
        name,
        VerifyAccessArgs(
            logs_bucket=log_bucket.bucket_name,
            logs_location=log_table.logs_location,
            workgroup=log_table.workgroup.name,
            database=log_table.database.name,
            table=log_table.table.name,
            results_bucket=log_table.results_bucket.bucket,
        )
        if log_table is not None
        else VerifyAccessArgs(),
    )

    # What `verify` reads (url, replicas, max_replicas, algorithm, replica_subnets) and what a
    # person needs to find the stack in the console or with the AWS CLI.
    pulumi.export("url", load_balancer.url)
    pulumi.export("dns_name", load_balancer.dns_name)
    pulumi.export("replicas", settings.replicas)
    pulumi.export("max_replicas", settings.max_replicas)
    pulumi.export("algorithm", settings.algorithm)
    pulumi.export("replica_subnets", network.replica_subnet_zones)
    pulumi.export("vpc_id", network.vpc_id)
    pulumi.export("load_balancer_arn", load_balancer.load_balancer.arn)
    pulumi.export("target_group_arn", load_balancer.target_group.arn)
    pulumi.export("cluster_name", replicas.cluster.name)
    pulumi.export("service_name", replicas.service.name)
    pulumi.export("log_group_name", replicas.log_group.name)
    pulumi.export("verify_policy_arn", verify_access.policy.arn)
    if load_balancer.production_listener_rule is not None:
        # Where production is forwarded now (ECS moves its weights): what `verify --target-health aws` reads.
        pulumi.export("production_listener_rule_arn", load_balancer.production_listener_rule.arn)
    # What decided a deploy, and where each decision's line is (`aws logs tail <group>`).
    pulumi.export("deploy_hook_function_arn", deploy_hook.function.arn)
    pulumi.export("deploy_hook_log_group", deploy_hook.log_group.name)
    # What the settings decide before anything runs: the bill and the wait (python -m estimate prints both).
    region = aws.get_region_output().region
    if log_table is not None:
        # What `verify --access-logs --stack NAME [--engine athena]` reads: nothing else needed.
        pulumi.export("access_logs_location", log_table.logs_location)
        pulumi.export("access_logs_region", region)
        pulumi.export("athena_database", log_table.database.name)
        pulumi.export("athena_table", log_table.table.name)
        pulumi.export("athena_workgroup", log_table.workgroup.name)
    pulumi.export("estimated_monthly_cost", region.apply(lambda name: monthly_cost(settings, region=name)))
    pulumi.export("deploy_timing", timing)
    pulumi.export(
        "next_steps",
        pulumi.Output.format(
            "python -m verify {0}   # or: python -m verify (reads this stack's outputs)",
            load_balancer.url,
        ),
    )


main()
