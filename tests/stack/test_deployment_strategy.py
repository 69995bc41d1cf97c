"""deploymentStrategy: rolling declares nothing new; blue-green, linear and canary declare exactly what
ECS's own traffic shifting needs, and the mocks refuse what ECS refuses."""

import itertools
import json

import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st

import settings
from components.errors import SettingsError
from components.options import (
    STEADY_STATE_MARGIN_SECONDS,
    STEADY_STATE_TIMEOUT_MAX_SECONDS,
    TEST_HEADER,
    DeploymentStrategy,
)
from estimate.deploy_timing import deploy_timing
from tests.stack.harness import ACCOUNT_ID, OWN_DOMAIN, Deployment, StackMocks, declare, declare_stack

SERVICE = "aws:ecs/service:Service"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
MANAGED_POLICY = "arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"


def parse(**raw: object) -> settings.StackSettings:
    return settings.parse_settings({key: str(value) for key, value in raw.items()}, project="p", stack="s")


@pytest.fixture(scope="module")
def blue_green() -> Deployment:
    return declare_stack("dev", deploymentStrategy="blue-green", deploymentBakeMinutes=10)


def test_rolling_by_default_declares_no_second_group_rule_role_or_alarm():
    dev = declare_stack("dev")
    assert len(dev.all(TARGET_GROUP)) == 1
    assert dev.all(LISTENER_RULE) == [] and dev.all(ALARM) == []
    service = dev.one(SERVICE).inputs
    assert "deploymentConfiguration" not in service and "alarms" not in service
    assert "advancedConfiguration" not in service["loadBalancers"][0]
    assert not any("ecs.amazonaws.com" in r.inputs["assumeRolePolicy"] for r in dev.all(ROLE))


def test_the_alternate_group_is_the_primary_s_twin(blue_green):
    primary, alternate = (
        blue_green.one(TARGET_GROUP, name) for name in ("alb-replicas-dev-tg", "alb-replicas-dev-alt")
    )
    assert alternate.inputs == primary.inputs, "same health check, drain, algorithm and port"
    # Declared as "<prefix>-tg-alt" before (too long for a prefix of 18 or more): the alias keeps that group.
    assert [alias.rsplit("::", 1)[-1] for alias in alternate.aliases] == ["alb-replicas-dev-tg-alt"]


def test_the_production_rule_forwards_to_both_groups_and_pulumi_leaves_ecs_s_weights_alone(blue_green):
    rule = blue_green.one(LISTENER_RULE)
    (forward,) = rule.inputs["actions"]
    weights = [(group["arn"].rsplit("/", 1)[-1], group["weight"]) for group in forward["forward"]["targetGroups"]]
    assert weights == [("alb-replicas-dev-tg", 100), ("alb-replicas-dev-alt", 0)]
    assert rule.inputs["conditions"] == [{"pathPattern": {"values": ["/*"]}}]
    assert rule.ignore_changes == ["actions"]
    http = blue_green.one("aws:lb/listener:Listener")
    assert rule.inputs["listenerArn"].endswith(http.name)


def test_the_service_shifts_through_both_groups_with_ecs_s_own_role(blue_green):
    service = blue_green.one(SERVICE)
    advanced = service.inputs["loadBalancers"][0]["advancedConfiguration"]
    assert advanced["alternateTargetGroupArn"].endswith("/alb-replicas-dev-alt")
    assert advanced["productionListenerRule"].endswith("/alb-replicas-dev-production")
    assert "testListenerRule" not in advanced
    configuration = {key: value for key, value in service.inputs["deploymentConfiguration"].items()}
    assert configuration.pop("lifecycleHooks"), "deploymentVerify is on by default (tests/stack/test_deploy_hook.py)"
    assert configuration == {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": "10"}
    role = blue_green.one(ROLE, "alb-replicas-dev-infrastructure")
    assert advanced["roleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{role.name}"
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "ecs.amazonaws.com"}]
    assert trust[0]["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    (attachment,) = [a for a in blue_green.all(ATTACHMENT) if a.inputs["role"] == role.name]
    assert attachment.inputs["policyArn"] == MANAGED_POLICY
    assert attachment.urn in service.dependencies, "ECS must be allowed to move the rule before the first deploy"


def test_the_service_rolls_back_on_alarms_of_5xx_and_unhealthy_hosts_over_both_groups(blue_green):
    alarms = {alarm.name: alarm.inputs for alarm in blue_green.all(ALARM)}
    service = blue_green.one(SERVICE).inputs
    assert service["alarms"] == {"alarmNames": sorted(alarms), "enable": True, "rollback": True}
    metrics = {}
    for alarm in alarms.values():
        queries = alarm["metricQueries"]
        groups = {q["metric"]["dimensions"]["TargetGroup"].split("/")[1] for q in queries if "metric" in q}
        assert groups == {"alb-replicas-dev-tg", "alb-replicas-dev-alt"}
        metrics[queries[0]["metric"]["metricName"]] = alarm
        assert (alarm["threshold"], alarm["comparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
        assert alarm["treatMissingData"] == "notBreaching"
    assert set(metrics) == {"HTTPCode_Target_5XX_Count", "UnHealthyHostCount"}


@pytest.mark.parametrize(
    ("strategy", "block", "expected"),
    [
        ("linear:10", "linearConfiguration", {"stepPercent": 10.0, "stepBakeTimeInMinutes": "2"}),
        ("canary:5.5", "canaryConfiguration", {"canaryPercent": 5.5, "canaryBakeTimeInMinutes": "2"}),
    ],
)
def test_linear_and_canary_carry_their_percent_and_step_bake_time(strategy, block, expected):
    service = declare_stack("dev", deploymentStrategy=strategy, deploymentStepBakeMinutes=2).one(SERVICE).inputs
    assert service["deploymentConfiguration"][block] == expected
    assert service["deploymentConfiguration"]["strategy"] == strategy.split(":")[0].upper()


def test_test_traffic_adds_a_header_rule_ahead_of_production_and_gives_it_to_ecs():
    deployment = declare_stack("dev", deploymentStrategy="canary:10", deploymentTestTraffic=True)
    rules = {rule.name: rule.inputs for rule in deployment.all(LISTENER_RULE)}
    test, production = rules["alb-replicas-dev-test"], rules["alb-replicas-dev-production"]
    assert test["priority"] < production["priority"]
    header, value = TEST_HEADER
    assert test["conditions"] == [{"httpHeader": {"httpHeaderName": header, "values": [value]}}]
    advanced = deployment.one(SERVICE).inputs["loadBalancers"][0]["advancedConfiguration"]
    assert advanced["testListenerRule"].endswith("/alb-replicas-dev-test")


def test_test_traffic_with_rolling_declares_no_rule():
    assert declare_stack("dev", deploymentTestTraffic=True).all(LISTENER_RULE) == []


def test_with_https_ecs_moves_a_rule_of_the_https_listener():
    deployment = declare_stack("prod", deploymentStrategy="blue-green", **OWN_DOMAIN)
    rule = deployment.one(LISTENER_RULE)
    assert rule.inputs["listenerArn"].endswith("-https")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"deploymentStrategy": "linear:2.9"}, "deploymentStrategy: 'linear:2.9' is out of range; allowed: rolling"),
        ({"deploymentStrategy": "linear:100.1"}, "'linear:100.1' is out of range"),
        ({"deploymentStrategy": "canary:0.0"}, "deploymentStrategy: 'canary:0.0' is out of range"),
        # ECS takes multiples of 0.1 (botocore's CanaryConfiguration.canaryPercent); settings took two decimals.
        ({"deploymentStrategy": "canary:5.55"}, "'canary:5.55' is not allowed; allowed: rolling"),
        ({"deploymentStrategy": "linear:12.34"}, "in steps of 0.1 as ECS takes them (at most one decimal)"),
        ({"deploymentStrategy": "canary:0"}, "'canary:0' is out of range"),
        ({"deploymentStrategy": "canary"}, "deploymentStrategy: 'canary' is not allowed; allowed: rolling, blue-green"),
        ({"deploymentStrategy": "linear:1e2"}, "'linear:1e2' is not allowed"),
        ({"deploymentStrategy": "linear:nan"}, "'linear:nan' is not allowed"),
        ({"deploymentStrategy": "canary:10.001"}, "at most one decimal"),
        ({"deploymentStrategy": "BLUE_GREEN"}, "'BLUE_GREEN' is not allowed"),
        ({"deploymentBakeMinutes": 1441}, "deploymentBakeMinutes: 1441 is out of range; allowed: 0 to 1440"),
        ({"deploymentStepBakeMinutes": -1}, "deploymentStepBakeMinutes: -1 is out of range; allowed: 0 to 1440"),
        ({"deploymentTestTraffic": "yes"}, "deploymentTestTraffic: 'yes' is not true or false"),
    ],
)
def test_a_bad_strategy_or_bake_time_is_one_line_naming_what_is_allowed(raw, expected):
    with pytest.raises(SettingsError) as raised:
        parse(**raw)
    assert expected in str(raised.value)
    assert len(raised.value.one_line().splitlines()) == 1


@given(
    kind=st.sampled_from(["linear", "canary"]),
    hundredths=st.integers(min_value=0, max_value=10_100),
)
def test_every_percent_is_accepted_exactly_within_aws_s_range_in_steps_of_a_tenth(kind, hundredths):
    """botocore's ECS model: stepPercent multiples of 0.1 from 3.0 to 100.0, canaryPercent from 0.1 to 100.0."""
    percent = hundredths / 100
    text = f"{kind}:{percent:g}" if percent == int(percent) else f"{kind}:{percent}"
    low = 3.0 if kind == "linear" else 0.1
    ecs_takes = low <= percent <= 100.0 and hundredths % 10 == 0
    try:
        strategy = parse(deploymentStrategy=text).deployment_strategy
    except SettingsError as error:
        assert not ecs_takes, error
    else:
        assert ecs_takes, text
        assert (strategy.kind, strategy.percent) == (kind, percent)


@given(step=st.integers(min_value=300, max_value=10_000))
def test_linear_shares_rise_by_the_step_and_end_at_100(step):
    shares = DeploymentStrategy("linear", step / 100).green_shares()
    assert shares[-1] == 100.0 and all(b > a for a, b in itertools.pairwise(shares))
    assert len(shares) == -(-10_000 // step)


def test_a_canary_is_its_share_then_all_and_blue_green_all_at_once():
    assert DeploymentStrategy("canary", 10).green_shares() == [10.0, 100.0]
    assert DeploymentStrategy("blue-green").green_shares() == [100.0]
    assert DeploymentStrategy().green_shares() == []


ADVANCED = {"alternateTargetGroupArn": "tg-alt", "productionListenerRule": "rule", "roleArn": "role"}


def register_service(advanced: dict | None = None, **deployment: object) -> None:
    """An aws.ecs.Service as the engine hands it to the mocks' registration hook (camelCase inputs)."""
    balancer = {"targetGroupArn": "tg", "containerName": "replica", "containerPort": 8080}
    inputs = {
        "cluster": "c",
        "loadBalancers": [{**balancer, **({"advancedConfiguration": advanced} if advanced else {})}],
        "deploymentConfiguration": deployment,
    }
    StackMocks().new_resource(pulumi.runtime.MockResourceArgs(SERVICE, "svc", inputs, "", None, True))


@pytest.mark.parametrize(
    ("advanced", "deployment", "refusal"),
    [
        (None, {"strategy": "BLUE_GREEN"}, "without advancedConfiguration"),
        ({"alternateTargetGroupArn": "tg-alt", "roleArn": "role"}, {"strategy": "CANARY"}, "productionListenerRule"),
        (ADVANCED, {"strategy": "BLUE_GREEN", "bakeTimeInMinutes": "1441"}, "bakeTimeInMinutes: 1441 is outside"),
        (ADVANCED, {"strategy": "LINEAR", "linearConfiguration": {"stepPercent": 2.5}}, "stepPercent: 2.5 is outside"),
        (ADVANCED, {"strategy": "LINEAR"}, "LINEAR without linearConfiguration"),
        (ADVANCED, {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 0.05}}, "canaryPercent: 0.05 is"),
        (
            ADVANCED,
            {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 5.55}},
            "canaryPercent: 5.55 is not a multiple of 0.1",
        ),
        (
            ADVANCED,
            {"strategy": "CANARY", "canaryConfiguration": {"canaryPercent": 5, "canaryBakeTimeInMinutes": "-1"}},
            "canaryBakeTimeInMinutes: -1 is outside 0 to 1440",
        ),
    ],
)
def test_the_mocks_refuse_a_deployment_ecs_refuses(advanced, deployment, refusal):
    with pytest.raises(ValueError, match=r"(ECS|AWS) refuses") as raised:
        register_service(advanced, **deployment)
    assert refusal in str(raised.value)


def test_the_mocks_accept_what_ecs_accepts():
    register_service(ADVANCED, strategy="LINEAR", linearConfiguration={"stepPercent": 3.0})
    register_service(ADVANCED, strategy="CANARY", canaryConfiguration={"canaryPercent": 0.1})
    register_service(None, strategy="ROLLING")
    register_service(None)


def test_the_service_refuses_a_shifting_strategy_without_its_groups_before_declaring_anything():
    from components.service import Container, ReplicaService, ReplicaServiceArgs

    def program() -> None:
        ReplicaService(
            "svc",
            ReplicaServiceArgs(
                vpc_id="vpc",
                subnet_ids=["a"],
                target_group_arn="tg",
                load_balancer_security_group_id="sg",
                listeners=[],
                container=Container(image="nginx:1", port=8080),
                deployment=DeploymentStrategy("canary", 10),
            ),
            opts=pulumi.ResourceOptions(),
        )

    declared = declare(program, {})
    assert isinstance(declared.error, SettingsError) and declared.error.argument == "deployment"
    assert declared.resources == []


def test_pulumi_up_waits_for_the_whole_shifting_deploy_bake_time_included():
    timing = parse(deploymentStrategy="canary:10", deploymentBakeMinutes=30)

    exported = deploy_timing(timing, maximum_percent=200)
    canary = exported["by_strategy"]["canary:10"]
    assert (
        exported["steady_state_timeout_seconds"] == canary["seconds_both_revisions_run"] + STEADY_STATE_MARGIN_SECONDS
    )
    assert canary["seconds_both_revisions_run"] > 30 * 60


def test_bake_times_pulumi_up_could_not_wait_for_are_refused_in_one_line():
    with pytest.raises(SettingsError) as raised:
        parse(deploymentStrategy="linear:3", deploymentStepBakeMinutes=60)
    assert "over the 34 shift(s) of linear:3: pulumi up would wait" in raised.value.one_line()
    assert "allowed: at most 86400 s" in raised.value.one_line()
    assert parse(deploymentStrategy="linear:3", deploymentStepBakeMinutes=30).deployment_strategy.percent == 3.0


def test_a_rolling_deploy_at_the_slowest_settings_allowed_stays_below_pulumi_up_s_longest_wait():
    """Why settings check only a shifting strategy's bake times against the wait: a rolling deploy cannot reach it."""
    slowest = parse(
        replicas=100,
        healthCheckIntervalSeconds=43,  # the longest the stop timeout allows: 2 x 43 s + 3 s of node lag + 30 s
        healthCheckTimeoutSeconds=42,
        healthyThreshold=10,
        unhealthyThreshold=2,
        healthCheckGracePeriodSeconds=3600,
        deregistrationDelaySeconds=3600,
    )
    timing = deploy_timing(slowest, maximum_percent=200)
    assert timing["strategy"] == "rolling"
    assert timing["steady_state_timeout_seconds"] < STEADY_STATE_TIMEOUT_MAX_SECONDS / 4
