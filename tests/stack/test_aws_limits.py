"""AWS's limits on every name and number (components/aws_limits.py): every stack the settings accept is one AWS
accepts. The program runs under mocks that refuse whatever the table refuses, over generated settings (namePrefix
of every length and case, the prefix made from a long stack name, every strategy, access logs, both stacks, any
region); a value the settings refuse is refused in one line that names its key."""

from __future__ import annotations

import re
import runpy

import pulumi
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import settings
import stack_config
from components.aws_limits import (
    DERIVED_NAMES,
    NAME_MAX,
    NAMED,
    athena_database_name,
    declared_problems,
    deploy_hook_log_group,
    name_problem,
    replica_log_group,
    tenths,
)
from components.aws_tables import ELB_ACCOUNT_IDS, FARGATE_ZONE_IDS
from components.errors import SettingsError
from tests.stack.harness import OWN_DOMAIN, PROJECT, PROJECT_DIR, Deployment, StackMocks, declare, stack_values

# Regions with the ELB log account of their own (opened before August 2022) and some opened since; the partition
# each belongs to, as the provider's endpoints data names it.
GLUE_TABLE, CERTIFICATE = "aws:glue/catalogTable:CatalogTable", "aws:acm/certificate:Certificate"
REGIONS = (*sorted(ELB_ACCOUNT_IDS), "ap-southeast-5", "ca-west-1", "il-central-1", "mx-central-1")


def partition_of(region: str) -> str:
    return "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"


def zones_of(region: str, count: int) -> dict[str, str]:
    """`count` zones of `region` by name -> zone ID; where Fargate runs in only some zones, those first."""
    fargate = FARGATE_ZONE_IDS.get(region, ())
    short = re.sub(r"[^a-z0-9]", "", region)[:6]
    ids = [*fargate, *(f"{short}-az{n}" for n in range(len(fargate) + 1, 10))][:count]
    return {f"{region}{chr(ord('a') + index)}": zone_id for index, zone_id in enumerate(ids)}


def run_program(stack: str, values: dict[str, object], region: str, zone_count: int) -> Deployment:
    """__main__.py as `pulumi up` runs it for a stack named `stack` with `values` (the dev file's otherwise)."""
    config = stack_config.cli_config(stack, values)
    mocks = StackMocks(region=region, zones=zones_of(region, zone_count), partition=partition_of(region))
    return declare(lambda: runpy.run_path(str(PROJECT_DIR / "__main__.py")), config, stack=stack, mocks=mocks)


def settings_refusal(stack: str, values: dict[str, object]) -> str | None:
    """The one line the settings refuse `values` with, or None when they take them."""
    try:
        settings.parse_settings(values, project=PROJECT, stack=stack)
    except SettingsError as error:
        return error.one_line()
    return None


_KEYS = "|".join(stack_config.config_schema())
_NAMES_A_KEY = re.compile(rf"^invalid stack settings: ({_KEYS})(?: x \w+)?: ")
_PROGRAM_NAMES_A_KEY = re.compile(rf"^({_KEYS}): ")
_SHIFTING = st.one_of(
    st.sampled_from(["rolling", "blue-green"]),
    st.tuples(st.sampled_from(["linear", "canary"]), st.integers(0, 1010), st.sampled_from([1, 10, 100])).map(
        lambda drawn: f"{drawn[0]}:{drawn[1] / drawn[2]:g}"
    ),
)
# namePrefix: unset (the prefix made from the stack's name), or letters, digits and hyphens of every case and
# length around the limit, or a start AWS reserves somewhere.
_PREFIX = st.one_of(
    st.just(""),
    st.text("abcXYZ019-", min_size=1, max_size=NAME_MAX + 3),
    st.sampled_from(["sg", "sg-x", "internal-x", "xn--x", "sthree-x", "amzn-s3-demo-x", "Web", "9to5"]),
)
_STACK = st.one_of(st.sampled_from(["dev", "prod"]), st.text("abcdefghiJKL0189-_.", min_size=1, max_size=40))


@st.composite
def stacks(draw: st.DrawFn) -> tuple[str, dict[str, object], str, int]:
    stack = draw(_STACK, label="stack")
    base = stack if stack in ("dev", "prod") else draw(st.sampled_from(["dev", "prod"]), label="stack file")
    values: dict[str, object] = {
        **stack_values(base),
        "namePrefix": draw(_PREFIX, label="namePrefix"),
        "deploymentStrategy": draw(_SHIFTING, label="deploymentStrategy"),
        "deploymentTestTraffic": draw(st.booleans(), label="deploymentTestTraffic"),
        "accessLogs": draw(st.booleans(), label="accessLogs"),
        "azCount": draw(st.integers(2, 4), label="azCount"),
        "deploymentBakeMinutes": draw(st.sampled_from([0, 5, 60, 1440]), label="deploymentBakeMinutes"),
        "replicaAddressing": draw(st.sampled_from(["ipv6-only", "ipv4"]), label="replicaAddressing"),
    }
    # A stack named other than dev has no policy config of its own: the pack requires HTTPS there.
    if stack != "dev":
        label = draw(st.text("abc-9", min_size=1, max_size=70), label="domain label")
        values |= {"domain": f"{label}.{OWN_DOMAIN['zone']}", "zone": OWN_DOMAIN["zone"]}
    region = draw(st.sampled_from(REGIONS), label="region")
    return stack, values, region, draw(st.integers(2, 4), label="zones in the region")


@given(stacks())
# Named regressions: what the settings took and AWS refuses, before the limits table.
@example(("dev", {**stack_values("dev"), "namePrefix": "a" * 18, "deploymentStrategy": "canary:10"}, "us-east-1", 3))
@example(("dev", {**stack_values("dev"), "deploymentStrategy": "canary:5.55"}, "us-east-1", 3))
@example(("dev", {**stack_values("dev"), "deploymentStrategy": "linear:12.34"}, "us-east-1", 3))
@example(("staging", {**stack_values("prod"), **OWN_DOMAIN, "deploymentStrategy": "blue-green"}, "us-east-1", 3))
@example(("dev", {**stack_values("dev"), "namePrefix": "Web", "accessLogs": True}, "us-east-2", 3))
@example(("dev", {**stack_values("dev"), "namePrefix": "xn--web", "accessLogs": True}, "us-east-1", 3))
@example(
    ("prod", {**stack_values("prod"), "domain": "a" * 51 + ".mycompany.com", "zone": "mycompany.com"}, "us-east-1", 3)
)
def test_every_stack_the_settings_accept_is_one_aws_accepts(stack_case):
    stack, values, region, zone_count = stack_case
    refusal = settings_refusal(stack, values)
    deployment = run_program(stack, values, region, zone_count)
    if refusal is not None:
        assert _NAMES_A_KEY.match(refusal), refusal
        assert deployment.resources == [] and refusal.split(": ", 1)[1] in str(deployment.error)
        return
    if deployment.error is not None:
        # What only the region shows (too few zones for azCount, no IPv6-only tasks there) stops in Network, in one
        # line naming its key, before any AWS resource.
        error = str(deployment.error)
        assert isinstance(deployment.error, pulumi.RunError) and _PROGRAM_NAMES_A_KEY.match(error), error
        assert "\n" not in error and [r.type for r in deployment.resources if r.type.startswith("aws:")] == []
        return
    assert deployment.all("aws:ecs/service:Service"), "the program declared its service"


def test_the_settings_accepted_a_prefix_the_alternate_target_group_cannot_have_before_its_shorter_name():
    """Before: "<prefix>-tg-alt" and Pulumi's 8 characters, 35 with an accepted prefix of 20."""
    assert len("a" * NAME_MAX + "-tg-alt" + "-a1b2c3d") == 35
    values = {**stack_values("dev"), "namePrefix": "a" * NAME_MAX, "deploymentStrategy": "blue-green"}
    blue_green = run_program("dev", values, "us-east-1", 3)
    assert blue_green.error is None
    # In any order: the mocks register resources as their inputs resolve, which load reorders.
    names = sorted(r.name for r in blue_green.all("aws:lb/targetGroup:TargetGroup"))
    assert names == ["a" * NAME_MAX + "-alt", "a" * NAME_MAX + "-tg"]


def test_every_name_the_program_makes_from_the_prefix_is_in_the_table():
    """DERIVED_NAMES, which settings check a prefix against, is every name the program derives: each resource of
    a type the table names, declared under "<prefix>...", has its suffix there (or is named as the table says)."""
    prefix = "abc"
    values = {
        **stack_values("prod"),
        **OWN_DOMAIN,
        "namePrefix": prefix,
        "deploymentStrategy": "canary:10",
        "deploymentTestTraffic": True,
    }
    deployment = run_program("prod", values, "us-east-1", 3)
    assert deployment.error is None, deployment.error
    auto_named = {(d.type, d.suffix) for d in DERIVED_NAMES if not d.given}
    given_names = {(d.type, d.physical(prefix)) for d in DERIVED_NAMES if d.given}
    given_names |= {
        ("aws:cloudwatch/logGroup:LogGroup", replica_log_group(prefix)),
        ("aws:cloudwatch/logGroup:LogGroup", deploy_hook_log_group(prefix)),
        ("aws:glue/catalogDatabase:CatalogDatabase", athena_database_name(prefix)),
    }
    for resource in deployment.resources:
        # The Glue table is named by a constant ("access_logs"), the certificate by the domain settings check.
        if resource.type not in NAMED or resource.type in (GLUE_TABLE, CERTIFICATE):
            continue
        given = resource.inputs.get(NAMED[resource.type].field)
        if given is not None:
            assert (resource.type, given) in given_names, (resource.type, given)
        else:
            assert resource.name.startswith(prefix), resource.name
            assert (resource.type, resource.name[len(prefix) :]) in auto_named, (resource.type, resource.name)


@pytest.mark.parametrize(
    ("type_", "logical", "inputs", "refused"),
    [
        ("aws:lb/targetGroup:TargetGroup", "x" * 18 + "-tg-alt", {}, "pulumi-aws refuses to auto-name"),
        ("aws:s3/bucket:Bucket", "Web-logs", {}, None),  # pulumi-aws lowercases a bucket's auto-name
        ("aws:s3/bucket:Bucket", "b", {"bucket": "a..b"}, "S3 bucket name 'a..b'"),
        ("aws:s3/bucket:Bucket", "b", {"bucket": "192.168.5.4"}, "formatted as an IP address"),
        ("aws:glue/catalogDatabase:CatalogDatabase", "d", {"name": "Web_alb_logs"}, "not of the form [a-z0-9_]+"),
        ("aws:iam/role:Role", "r" * 57, {}, "IAM role or policy name"),
        ("aws:iam/role:Role", "r", {"description": "caf\u00e9 \u2603"}, "description"),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", "a", {"metricQueries": [{"id": "Group0"}]}, "MetricDataQuery.Id"),
        (
            "aws:appautoscaling/policy:Policy",
            "p",
            {
                "targetTrackingScalingPolicyConfiguration": {
                    "customizedMetricSpecification": {"metrics": [{"id": "0g"}]}
                }
            },
            "TargetTrackingMetricDataQuery.Id",
        ),
        (
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            "a",
            {"metricQueries": [{"id": "g", "metric": {"period": 90}}]},
            "not a multiple of 60",
        ),
        (
            "aws:cloudwatch/metricAlarm:MetricAlarm",
            "a",
            {"evaluationPeriods": 2, "datapointsToAlarm": 3},
            "at most evaluationPeriods 2",
        ),
        (
            "aws:lb/targetGroup:TargetGroup",
            "t",
            {"healthCheck": {"interval": 5, "timeout": 5}},
            "below healthCheck.interval",
        ),
        ("aws:lb/listenerRule:ListenerRule", "r", {"priority": 50001}, "priority: 50001 is outside 1 to 50000"),
        (
            "aws:lb/listenerRule:ListenerRule",
            "r",
            {"actions": [{"forward": {"targetGroups": [{"weight": 1000}]}}]},
            "weight: 1000 is outside 0 to 999",
        ),
        (
            "aws:ecs/taskDefinition:TaskDefinition",
            "t",
            {"family": "f", "containerDefinitions": '[{"stopTimeout": 121}]'},
            "stopTimeout: 121",
        ),
        ("aws:ecs/taskDefinition:TaskDefinition", "t", {"family": "f", "cpu": "256", "memory": "4096"}, "Fargate"),
        ("aws:cloudwatch/logGroup:LogGroup", "l", {"retentionInDays": 10}, "10 is not one of 1, 3, 5"),
        ("aws:ec2/flowLog:FlowLog", "f", {"maxAggregationInterval": 300}, "300 is not one of 60, 600"),
        ("aws:acm/certificate:Certificate", "c", {"domainName": "a" * 60 + ".example"}, "certificate domain name"),
    ],
)
def test_the_table_refuses_what_aws_refuses(type_, logical, inputs, refused):
    problems = "; ".join(declared_problems(type_, logical, inputs))
    if refused is None:
        assert problems == ""
    else:
        assert refused in problems


def test_a_value_not_known_yet_passes_as_the_engine_sends_it_only_once_known():
    unknown = object()
    assert declared_problems("aws:lb/listenerRule:ListenerRule", "r", {"priority": unknown}) == []


@pytest.mark.parametrize(
    ("percent", "ecs_takes"), [(5.5, True), (5.55, False), (0.1, True), (33.3, True), (12.34, False)]
)
def test_a_share_of_traffic_is_a_multiple_of_a_tenth(percent, ecs_takes):
    assert tenths(percent) is ecs_takes


def test_the_longest_prefix_is_the_load_balancer_s_and_names_beyond_it_are_refused_in_one_line():
    assert NAME_MAX == 32 - len("-alb") - len("-a1b2c3d") == 20
    assert name_problem("a" * NAME_MAX) is None
    problem = name_problem("a" * (NAME_MAX + 1))
    assert problem is not None and "\n" not in problem
