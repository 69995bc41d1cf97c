"""Each component on its own, as another program would use it."""

import pulumi
import pytest

from components.autoscaling import ServiceAutoscaling, ServiceAutoscalingArgs
from components.aws_limits import name_problem
from components.aws_tables import fargate_size_problem
from components.errors import SettingsError
from components.load_balancer import LoadBalancer, LoadBalancerArgs
from components.network import Network, NetworkArgs, no_public_ip_on_launch, subnet_plan
from components.options import Capacity, HealthCheck, StopTiming
from components.service import Container, ReplicaService, ReplicaServiceArgs
from tests.stack.harness import StackMocks, declare


def test_subnet_plan_keeps_room_for_private_subnets_so_nat_later_renumbers_nothing():
    zones = ["a", "b", "c"]
    public_only = subnet_plan("10.0.0.0/16", zones, private=False)
    with_private = subnet_plan("10.0.0.0/16", zones, private=True)
    assert [s.cidr for s in public_only] == ["10.0.0.0/19", "10.0.32.0/19", "10.0.64.0/19"]
    assert with_private[:3] == public_only
    assert [s.cidr for s in with_private[3:]] == ["10.0.96.0/19", "10.0.128.0/19", "10.0.160.0/19"]
    assert [s.zone for s in with_private[3:]] == zones


def test_smallest_vpc_with_most_zones_still_fits_aws_minimum_subnet():
    plan = subnet_plan("10.0.0.0/24", ["a", "b", "c", "d", "e", "f"], private=True)
    assert all(s.cidr.endswith("/28") for s in plan) and len({s.cidr for s in plan}) == 12


def test_transform_turns_off_public_ip_on_launch_for_awsx_subnets_only():
    opts = pulumi.ResourceOptions()
    subnet = pulumi.ResourceTransformArgs(
        custom=True, type_="aws:ec2/subnet:Subnet", name="s", props={"mapPublicIpOnLaunch": True}, opts=opts
    )
    result = no_public_ip_on_launch(subnet)
    assert result is not None and result.props["mapPublicIpOnLaunch"] is False
    other = pulumi.ResourceTransformArgs(custom=True, type_="aws:ec2/vpc:Vpc", name="v", props={}, opts=opts)
    assert no_public_ip_on_launch(other) is None


def test_network_with_single_nat_puts_replicas_in_private_subnets():
    created = {}

    def program():
        created["network"] = Network("net", NetworkArgs(az_count=3, replica_addressing="ipv4", nat_gateways="single"))

    deployment = declare(program, {})
    vpc = deployment.one("awsx:ec2:Vpc").inputs
    assert vpc["natGateways"] == {"strategy": "Single"}
    assert len(vpc["subnetSpecs"]) == 2
    network = created["network"]
    assert network.replicas_in_private_subnets and network.zones == ["us-east-1a", "us-east-1b", "us-east-1c"]
    assert not network.task_public_ipv4 and deployment.exports == {}


def test_network_refuses_one_zone_before_declaring_anything():
    deployment = declare(lambda: Network("net", NetworkArgs(az_count=1)), {})
    assert isinstance(deployment.error, SettingsError)
    assert "az_count: 1 is too few" in str(deployment.error) and deployment.error.argument == "az_count"
    assert deployment.resources == []


def load_balancer_args(**changes) -> LoadBalancerArgs:
    """An IPv4 load balancer in two subnets the mocks know nothing of (so they have no IPv6 block)."""
    base = {"vpc_id": "vpc-1", "subnet_ids": ["subnet-a", "subnet-b"], "target_port": 8080, "ipv6_targets": False}
    return LoadBalancerArgs(**{**base, **changes})


def test_load_balancer_alone_exposes_its_children_and_honours_its_options():
    created = {}

    def program():
        created["lb"] = LoadBalancer(
            "web",
            load_balancer_args(
                algorithm="weighted_random",
                deregistration_delay_seconds=0,
                health_check=HealthCheck(path="/ping", interval_seconds=10, healthy_threshold=3),
            ),
        )

    deployment = declare(program, {})
    group = deployment.one("aws:lb/targetGroup:TargetGroup", "web-tg").inputs
    assert group["loadBalancingAlgorithmType"] == "weighted_random"
    assert group["deregistrationDelay"] == 0
    assert (
        group["healthCheck"]["path"],
        group["healthCheck"]["interval"],
        group["healthCheck"]["healthyThreshold"],
    ) == (
        "/ping",
        10,
        3,
    )
    lb = created["lb"]
    assert isinstance(lb.load_balancer, pulumi.CustomResource) and lb.listeners == [lb.listener]
    assert lb.alias_records == []


def test_a_dual_stack_load_balancer_in_subnets_without_ipv6_blocks_is_refused_as_elb_refuses_it():
    deployment = declare(lambda: LoadBalancer("web", load_balancer_args(ipv6_targets=True)), {})
    assert "a dualstack load balancer needs an IPv6 block on every subnet" in str(deployment.error)


def test_load_balancer_refuses_a_name_too_long_for_aws():
    deployment = declare(lambda: LoadBalancer("a-name-that-is-far-too-long", load_balancer_args()), {})
    assert isinstance(deployment.error, SettingsError)
    assert "name: 'a-name-that-is-far-too-long' must be 1 to 20" in str(deployment.error)
    assert deployment.resources == []


@pytest.mark.parametrize("name", ["web", "a" * 20, "x1-y2", "sgweb", "web-sg"])
def test_names_that_fit(name):
    assert name_problem(name) is None


@pytest.mark.parametrize(("cpu", "memory"), [(256, 512), (512, 4096), (4096, 30720), (16384, 122880)])
def test_fargate_pairs_accepted(cpu, memory):
    assert fargate_size_problem(cpu, memory) is None


@pytest.mark.parametrize(("cpu", "memory"), [(256, 3072), (1024, 1024), (8192, 18432), (128, 512)])
def test_fargate_pairs_refused(cpu, memory):
    assert fargate_size_problem(cpu, memory) is not None


def service_args(**changes) -> ReplicaServiceArgs:
    base = {
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "target_group_arn": "arn:aws:elasticloadbalancing:tg",
        "load_balancer_security_group_id": "sg-alb",
        "listeners": [],
        "container": Container(image="public.ecr.aws/docker/library/nginx:1.30.8-alpine", port=8080),
    }
    return ReplicaServiceArgs(**{**base, **changes})


def test_service_alone_exposes_its_children():
    created = {}

    def program():
        created["service"] = ReplicaService("api", service_args(replicas=4, cpu=1024, memory=2048))

    deployment = declare(program, {})
    service = created["service"]
    for child in (
        "cluster",
        "capacity_providers",
        "service",
        "task_definition",
        "security_group",
        "log_group",
        "execution_role",
        "task_role",
    ):
        assert isinstance(getattr(service, child), pulumi.CustomResource), child
    assert deployment.one("aws:ecs/service:Service").inputs["desiredCount"] == 4
    assert deployment.one("aws:ecs/service:Service").inputs["networkConfiguration"]["assignPublicIp"] is False


def test_service_refuses_a_stop_fargate_cannot_wait_for():
    too_slow = Container(image="nginx:1.30.0-alpine", port=8080, stop=StopTiming(delay_seconds=93, timeout_seconds=123))
    deployment = declare(lambda: ReplicaService("api", service_args(container=too_slow)), {})
    assert isinstance(deployment.error, SettingsError)
    assert "a stop timeout of 123 s" in str(deployment.error) and "above Fargate's 120 s" in str(deployment.error)
    assert deployment.resources == []


@pytest.mark.parametrize(
    ("region", "partition"),
    [
        ("us-east-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        # The sovereign and isolated partitions: a table of region prefixes knew none of them.
        ("eusc-de-east-1", "aws-eusc"),
        ("us-iso-east-1", "aws-iso"),
        ("us-isob-east-1", "aws-iso-b"),
    ],
)
def test_execution_role_policy_arn_is_in_the_partition_the_provider_reports(region, partition):
    # IAM refuses to attach a policy ARN of another partition ("arn:aws:..." in cn-north-1 does not exist).
    mocks = StackMocks(region=region, partition=partition)
    deployment = declare(lambda: ReplicaService("api", service_args()), {}, mocks=mocks)
    attachment = deployment.one("aws:iam/rolePolicyAttachment:RolePolicyAttachment").inputs
    assert attachment["policyArn"] == f"arn:{partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"


def test_service_refuses_a_size_fargate_does_not_run_before_declaring_anything():
    deployment = declare(lambda: ReplicaService("api", service_args(cpu=256, memory=4096)), {})
    assert isinstance(deployment.error, SettingsError)
    assert "memory: 4096 MiB is not a Fargate pair with cpu 256" in str(deployment.error)
    assert deployment.resources == []


@pytest.mark.parametrize("name", ["api.v2", "a" * 42])
def test_service_refuses_a_name_aws_refuses_in_a_name_it_makes_before_declaring_anything(name):
    """ "api.v2": ECS names take no dot; 42 characters: "<name>-infrastructure-" and Pulumi's 7 pass IAM's 64."""
    deployment = declare(lambda: ReplicaService(name, service_args()), {})
    assert isinstance(deployment.error, SettingsError)
    assert str(deployment.error).startswith(f"name: {name!r} makes the ")
    assert "which AWS refuses" in str(deployment.error)
    assert deployment.resources == []


def test_service_names_its_log_group_after_its_task_family():
    # The longest name the service takes: its infrastructure role's, "<name>-infrastructure-" and Pulumi's 7, in
    # the 64 characters IAM takes.
    deployment = declare(lambda: ReplicaService("a" * 41, service_args()), {})
    assert deployment.error is None
    family = deployment.one("aws:ecs/taskDefinition:TaskDefinition").inputs["family"]
    assert deployment.one("aws:cloudwatch/logGroup:LogGroup").inputs["name"] == f"/ecs/{family}"


def test_service_alone_runs_on_demand_on_graviton_by_default():
    deployment = declare(lambda: ReplicaService("api", service_args()), {})
    service = deployment.one("aws:ecs/service:Service").inputs
    assert service["capacityProviderStrategies"] == [{"capacityProvider": "FARGATE", "base": 0, "weight": 1}]
    task = deployment.one("aws:ecs/taskDefinition:TaskDefinition").inputs
    assert task["runtimePlatform"]["cpuArchitecture"] == "ARM64"


def test_service_refuses_an_on_demand_base_without_spot_before_declaring_anything():
    deployment = declare(lambda: ReplicaService("api", service_args(capacity=Capacity(on_demand_base=1))), {})
    assert isinstance(deployment.error, SettingsError)
    assert "capacity.on_demand_base: 1; allowed: 0 or more, with spot" in str(deployment.error)
    assert deployment.resources == []


@pytest.mark.parametrize("seconds", [0, 86401])
def test_service_refuses_an_unbounded_or_zero_steady_state_wait_before_declaring_anything(seconds):
    deployment = declare(lambda: ReplicaService("api", service_args(steady_state_timeout_seconds=seconds)), {})
    assert isinstance(deployment.error, SettingsError)
    assert f"steady_state_timeout_seconds: {seconds}; allowed: 1 to 86400 seconds" in str(deployment.error)
    assert deployment.resources == []


def test_autoscaling_alone():
    deployment = declare(
        lambda: ServiceAutoscaling(
            "api",
            ServiceAutoscalingArgs(
                cluster_name="c",
                service_name="s",
                load_balancer_arn_suffix="app/a/1",
                target_group_arn_suffixes=["targetgroup/t/2"],
                min_replicas=2,
                max_replicas=6,
                requests_per_target=500,
                cpu_target_percent=50,
            ),
        ),
        {},
    )
    target = deployment.one("aws:appautoscaling/target:Target").inputs
    assert (target["resourceId"], target["minCapacity"], target["maxCapacity"]) == ("service/c/s", 2, 6)
    assert target["scalableDimension"] == "ecs:service:DesiredCount"
    values = sorted(
        p.inputs["targetTrackingScalingPolicyConfiguration"]["targetValue"]
        for p in deployment.all("aws:appautoscaling/policy:Policy")
    )
    assert values == [50, 500]


def test_access_log_table_is_aws_table_with_projection_and_a_bounded_workgroup():
    from components.access_log_table import AccessLogTable, AccessLogTableArgs
    from verify.sources.logs.query import ATHENA_COLUMNS, ATHENA_REGEX

    deployment = declare(
        lambda: AccessLogTable(
            "web", AccessLogTableArgs(log_bucket="logs", database_name="web_alb_logs", workgroup_name="web-logs")
        ),
        {},
    )
    assert deployment.error is None, deployment.error
    table = deployment.one("aws:glue/catalogTable:CatalogTable").inputs
    location = "s3://logs/alb/AWSLogs/123456789012/elasticloadbalancing/us-east-1/"
    assert table["storageDescriptor"]["location"] == location
    assert table["parameters"]["storage.location.template"] == location + "${day}"
    assert table["parameters"]["projection.day.format"] == "yyyy/MM/dd"
    assert table["partitionKeys"] == [{"name": "day", "type": "string"}]
    serde = table["storageDescriptor"]["serDeInfo"]
    assert serde["parameters"]["input.regex"] == ATHENA_REGEX and ATHENA_REGEX.endswith(" ?( .*)?")
    assert [column["name"] for column in table["storageDescriptor"]["columns"]] == [c for c, _ in ATHENA_COLUMNS]
    workgroup = deployment.one("aws:athena/workgroup:Workgroup").inputs["configuration"]
    assert workgroup["bytesScannedCutoffPerQuery"] == 10 * 1000**3 and workgroup["enforceWorkgroupConfiguration"]
    assert workgroup["resultConfiguration"]["encryptionConfiguration"] == {"encryptionOption": "SSE_S3"}
    block = deployment.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[flag] for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls"))
    (rule,) = deployment.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration").inputs["rules"]
    assert rule["expiration"]["days"] == 7


@pytest.mark.parametrize(
    ("changes", "says"),
    [({"database_name": "web-logs"}, "database_name: 'web-logs' is not a name Glue keeps as given"),
     # Glue folds capitals: the name read back would differ, and every `pulumi up` would replace the database.
     ({"database_name": "Web_alb_logs"}, "database_name: 'Web_alb_logs' is not a name Glue keeps as given"),
     ({"scan_limit_bytes": 1000}, "scan_limit_bytes: 1000 is below Athena's smallest")],
)  # fmt: skip
def test_access_log_table_refuses_bad_names_and_limits_before_declaring_anything(changes, says):
    from components.access_log_table import AccessLogTable, AccessLogTableArgs

    args = {"log_bucket": "logs", "database_name": "web_alb_logs", "workgroup_name": "web-logs", **changes}
    deployment = declare(lambda: AccessLogTable("web", AccessLogTableArgs(**args)), {})
    assert isinstance(deployment.error, SettingsError) and says in str(deployment.error)
    assert deployment.resources == []


def test_the_tables_regex_reads_the_lines_verify_reads_even_with_fields_appended():
    import re
    from datetime import UTC, datetime

    from bench.alb_logs import Request, line
    from verify.sources.logs.query import ATHENA_COLUMNS, ATHENA_REGEX

    names = [name for name, _ in ATHENA_COLUMNS]
    written = line(Request(datetime(2026, 12, 4, 18, tzinfo=UTC), target="10.0.1.10:8080", user_agent="a b c"))
    for text in (written, written + ' "transformed" "-" "-" more'):
        fields = dict(zip(names, re.fullmatch(ATHENA_REGEX, text).groups(), strict=False))
        assert (fields["target_ip"], fields["target_port"], fields["user_agent"]) == ("10.0.1.10", "8080", "a b c")
        assert fields["request_creation_time"] == "2026-12-04T18:00:00.000000Z"
