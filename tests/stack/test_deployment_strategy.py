"""deploymentStrategy: rolling declares nothing new; blue-green, linear and canary declare exactly what
ECS's own traffic shifting needs, and the mocks refuse what ECS refuses."""

import itertools
import json

import pulumi
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import settings
from components.errors import SettingsError
from components.options import (
    STEADY_STATE_MARGIN_SECONDS,
    STEADY_STATE_TIMEOUT_MAX_SECONDS,
    TEST_HEADER,
    DeploymentStrategy,
    HealthCheck,
    RollbackAlarmTiming,
    StopTiming,
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


def test_rolling_by_default_registers_in_both_groups_states_rolling_and_its_alarms_off_and_has_no_rule_or_role():
    dev = declare_stack("dev")
    assert sorted(group.name for group in dev.all(TARGET_GROUP)) == ["alb-replicas-dev-alt", "alb-replicas-dev-tg"]
    assert dev.all(LISTENER_RULE) == []
    service = dev.one(SERVICE).inputs
    # Stated, not left out: the provider keeps a strategy or alarms block left out as ECS last had it.
    assert service["deploymentConfiguration"] == {"strategy": "ROLLING"}
    alarm_names = sorted(alarm.name for alarm in dev.all(ALARM))
    assert len(alarm_names) == 2
    assert service["alarms"] == {"alarmNames": alarm_names, "enable": False, "rollback": False}
    assert [lb["targetGroupArn"].rsplit("/", 1)[-1] for lb in service["loadBalancers"]] == [
        "alb-replicas-dev-tg",
        "alb-replicas-dev-alt",
    ]
    assert not any("advancedConfiguration" in lb for lb in service["loadBalancers"])
    # ECS assumes only the deploy hook's invoke role, which every strategy keeps; no infrastructure role.
    assert [r.name for r in dev.all(ROLE) if "ecs.amazonaws.com" in r.inputs["assumeRolePolicy"]] == [
        "alb-replicas-dev-hook-invoke"
    ]


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
    # AWS's documented trust policy for this role, as written (ECS developer guide, "Amazon ECS infrastructure
    # IAM role for load balancers"): no aws:SourceAccount condition, which no AWS page says ECS sends for it.
    assert json.loads(role.inputs["assumeRolePolicy"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowAccessToECSForInfrastructureManagement",
                "Effect": "Allow",
                "Principal": {"Service": "ecs.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
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
    # (statistic, data points in a row): a 5xx fires in its minute; an unhealthy target needs every sample of 2
    # minutes in a row, which the dev replicas' stop (13 s failing, within a 43 s stop timeout) cannot give.
    shapes = {
        name: (alarm["metricQueries"][0]["metric"]["stat"], alarm["evaluationPeriods"], alarm["datapointsToAlarm"])
        for name, alarm in metrics.items()
    }
    assert shapes == {"HTTPCode_Target_5XX_Count": ("Sum", 1, 1), "UnHealthyHostCount": ("Minimum", 2, 2)}


def breaching_periods(failing: tuple[float, float], sampled_at: float, stat: str, period: int = 60) -> list[int]:
    """The periods an alarm on UnHealthyHostCount finds breaching when one target fails its checks over `failing`
    (seconds), the ALB sampling once a period `sampled_at` seconds into it (the worst case for `Minimum`: one
    sample decides; `Maximum` breaches on any sample in the failure)."""
    start, end = failing
    breaching = []
    for index in range(int(start // period), int(end // period) + 1):
        sample = index * period + sampled_at
        if start <= sample <= end and stat in ("Minimum", "Maximum"):
            breaching.append(index)
    return breaching


def fires(breaching: list[int], datapoints: int) -> bool:
    return any(all(first + n in breaching for n in range(datapoints)) for first in breaching)


@given(
    interval=st.integers(5, 43),
    threshold=st.integers(2, 10),
    starts=st.floats(0, 600),
    sampled_at=st.floats(0, 59.99),
    failing_for=st.floats(0, 1),
)
def test_no_replica_stopping_on_its_signal_fires_the_unhealthy_hosts_alarm_at_any_health_check(
    interval, threshold, starts, sampled_at, failing_for
):
    """Any health check settings take: a replica failing its checks for at most its stop timeout breaches fewer
    periods in a row than the alarm needs; the alarm it had (Maximum over 1 period) fired on such a stop."""
    stop = StopTiming.of(HealthCheck(interval_seconds=interval, unhealthy_threshold=threshold))
    assume(stop.problem() is None)
    timing = RollbackAlarmTiming.of(stop)
    failing = (starts, starts + failing_for * stop.timeout_seconds)
    assert not fires(breaching_periods(failing, sampled_at, "Minimum"), timing.unhealthy_hosts_datapoints)
    # A revision whose tasks keep failing: every period breaches, and the alarm fires.
    assert fires(breaching_periods((starts, starts + 3600), sampled_at, "Minimum"), timing.unhealthy_hosts_datapoints)


def test_the_alarm_it_had_rolled_back_a_good_deploy_for_one_interrupted_replica():
    """Maximum over one minute: 13 s of failing checks with a sample in them was a rollback."""
    assert fires(breaching_periods((50.0, 63.0), 55.0, "Maximum"), datapoints=1)


@pytest.mark.parametrize(
    ("raw", "refused"),
    [
        ({"deploymentStrategy": "canary:10", "deploymentStepBakeMinutes": 1}, "deploymentStepBakeMinutes: 1 minutes"),
        ({"deploymentStrategy": "linear:50", "deploymentStepBakeMinutes": 0}, "deploymentStepBakeMinutes: 0 minutes"),
        ({"deploymentStrategy": "blue-green", "deploymentBakeMinutes": 3}, "deploymentBakeMinutes: 3 minutes"),
        # Slower checks, a longer stop: 3 periods in a row, 5 minutes to decide.
        (
            {"deploymentStrategy": "canary:10", "deploymentStepBakeMinutes": 4, "healthCheckIntervalSeconds": 40},
            "allowed: 5 to 1440",
        ),
    ],
)
def test_a_bake_the_rollback_alarms_cannot_fire_within_is_refused_in_one_line_saying_why(raw, refused):
    with pytest.raises(SettingsError) as raised:
        parse(**raw)
    line = raised.value.one_line()
    assert refused in line and "shorter than the rollback alarms take to fire" in line
    assert "60 s for the ALB's metric to reach CloudWatch" in line and len(line.splitlines()) == 1


def test_a_step_bake_is_not_held_to_the_alarms_where_there_is_no_second_step():
    assert parse(deploymentStrategy="blue-green", deploymentStepBakeMinutes=0).deployment_strategy.kind == "blue-green"
    assert parse(deploymentStrategy="canary:100", deploymentStepBakeMinutes=0).deployment_strategy.percent == 100
    assert parse(deploymentStepBakeMinutes=0, deploymentBakeMinutes=0).deployment_strategy.kind == "rolling"


@pytest.mark.parametrize(
    ("strategy", "block", "expected"),
    [
        ("linear:10", "linearConfiguration", {"stepPercent": 10.0, "stepBakeTimeInMinutes": "6"}),
        ("canary:5.5", "canaryConfiguration", {"canaryPercent": 5.5, "canaryBakeTimeInMinutes": "6"}),
    ],
)
def test_linear_and_canary_carry_their_percent_and_step_bake_time(strategy, block, expected):
    service = declare_stack("dev", deploymentStrategy=strategy, deploymentStepBakeMinutes=6).one(SERVICE).inputs
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
