"""The two rules of ECS's traffic-shifting deploys, on the stack the program declares with
deploymentStrategy set: rollback on an alarm of the stack, and ECS's infrastructure role at least privilege."""

import json
from dataclasses import replace

import pytest

from policy.rules import PlannedResource, evaluate
from tests.stack.harness import OWN_DOMAIN, declare_stack
from tests.stack.test_policy_on_stack import planned

SERVICE = "aws:ecs/service:Service"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"


@pytest.fixture(scope="module")
def canary() -> list[PlannedResource]:
    return planned(declare_stack("prod", deploymentStrategy="canary:10", **OWN_DOMAIN))


def ids(resources: list[PlannedResource]) -> list[str]:
    return [v.rule_id for v in evaluate(resources) if v.rule_id.startswith("ecs-")]


def with_service(resources: list[PlannedResource], **props: object) -> list[PlannedResource]:
    return [replace(r, props={**r.props, **props}) if r.type == SERVICE else r for r in resources]


def test_the_declared_canary_passes_both_rules(canary):
    assert ids(canary) == []


@pytest.mark.parametrize("switch", ["enable", "rollback"])
def test_a_shifting_deploy_with_alarms_off_or_without_rollback_is_reported(canary, switch):
    service = next(r for r in canary if r.type == SERVICE)
    alarms = {**service.props["alarms"], switch: False}
    (violation,) = [v for v in evaluate(with_service(canary, alarms=alarms)) if v.rule_id.startswith("ecs-")]
    assert violation.rule_id == "ecs-shifting-deploy-rollback-alarm"
    assert f"{switch}=False" in violation.message and "CANARY" in violation.message


def test_a_shifting_deploy_watching_no_alarm_of_the_stack_is_reported(canary):
    without_alarms = [replace(r, dependencies=frozenset()) for r in canary if r.type != ALARM]
    assert ids(
        with_service(without_alarms, alarms={"alarmNames": ["elsewhere"], "enable": True, "rollback": True})
    ) == ["ecs-shifting-deploy-rollback-alarm"]


def test_a_rolling_service_needs_no_alarm():
    assert ids(planned(declare_stack("prod", **OWN_DOMAIN))) == []


def grant(type_: str, role: PlannedResource, **props: object) -> PlannedResource:
    urn = role.urn.replace("aws:iam/role:Role", type_) + "-extra"
    return PlannedResource(
        type=type_,
        name="extra",
        urn=urn,
        props={"role": role.props.get("name"), **props},
        dependencies=frozenset({role.urn}),
    )


def infrastructure_role(resources: list[PlannedResource]) -> PlannedResource:
    return next(
        r for r in resources if r.type == "aws:iam/role:Role" and '"ecs.amazonaws.com"' in r.props["assumeRolePolicy"]
    )


@pytest.mark.parametrize(
    ("type_", "props"),
    [
        (
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"},
        ),
        (
            "aws:iam/rolePolicy:RolePolicy",
            {"policy": '{"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'},
        ),
    ],
)
def test_ecs_s_infrastructure_role_granted_anything_more_is_reported(canary, type_, props):
    role = infrastructure_role(canary)
    (violation,) = [v for v in evaluate([*canary, grant(type_, role, **props)]) if v.rule_id.startswith("ecs-")]
    assert violation.rule_id == "ecs-infrastructure-role-least-privilege" and "granted more" in violation.message


def test_ecs_s_infrastructure_role_with_inline_policies_is_reported(canary):
    role = infrastructure_role(canary)
    changed = [
        replace(r, props={**r.props, "inlinePolicies": [{"name": "x", "policy": "{}"}]}) if r is role else r
        for r in canary
    ]
    assert ids(changed) == ["ecs-infrastructure-role-least-privilege"]


def test_the_task_roles_are_not_ecs_s_infrastructure_role(canary):
    tasks_role = next(r for r in canary if r.type == "aws:iam/role:Role" and "ecs-tasks" in r.props["assumeRolePolicy"])
    extra = grant(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment", tasks_role, policyArn="arn:aws:iam::aws:policy/X"
    )
    assert "ecs-infrastructure-role-least-privilege" not in ids([*canary, extra])


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:*:*:function:*"},
        {"Effect": "Allow", "Action": ["lambda:*"], "Resource": "arn:aws:lambda:us-east-1:123456789012:function:hook"},
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"},
    ],
)
def test_the_deploy_hook_s_invoke_role_may_invoke_named_functions_only(canary, statement):
    """AWS's own example allows every function of every account; least privilege names the hook."""
    (invoke,) = [r for r in canary if r.type == "aws:iam/rolePolicy:RolePolicy" and r.name.endswith("-invoke")]
    assert ids(canary) == []
    widened = [
        replace(r, props={**r.props, "policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})})
        if r is invoke
        else r
        for r in canary
    ]
    assert ids(widened) == ["ecs-infrastructure-role-least-privilege"]
