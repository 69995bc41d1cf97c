"""The stacks this program declares pass the policy pack: prod every rule, dev the rules for dev."""

import pytest

from policy.rules import PlannedResource, evaluate
from tests.stack.harness import Deployment, declare_stack


def planned(deployment: Deployment) -> list[PlannedResource]:
    return [
        PlannedResource(
            type=r.type,
            name=r.name,
            urn=r.urn,
            props=r.inputs,
            dependencies=frozenset(r.dependencies),
            parent=r.parent or None,
            id=f"{r.name}_id",
        )
        for r in deployment.resources
    ]


def test_prod_passes_every_rule():
    deployment = declare_stack("prod")
    assert deployment.error is None
    assert [str(v) for v in evaluate(planned(deployment))] == []


def test_dev_passes_every_rule_that_applies_to_dev():
    assert [str(v) for v in evaluate(planned(declare_stack("dev")), dev=True)] == []


@pytest.mark.parametrize(
    ("overrides", "control"),
    [
        ({"accessLogs": False}, "ELB.5"),
        ({"deletionProtection": False}, "ELB.6"),
        ({"natGateways": "none"}, "ECS.2"),
        ({"flowLogs": False}, "EC2.6"),
        ({"domain": None, "zone": None}, "ELB.1"),
    ],
)
def test_prod_without_a_guardrail_fails_its_control(overrides, control):
    violations = evaluate(planned(declare_stack("prod", **overrides)))
    assert any(v.message.startswith(control) for v in violations), [str(v) for v in violations]
