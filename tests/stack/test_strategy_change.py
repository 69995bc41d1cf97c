"""A change of deploymentStrategy, either way, sends ECS what it must hear and never leaves production on a
target group without targets, nor deletes what ECS still serves from (tests/stack/strategy_change.py models
what the provider sends, what ECS does with it and Pulumi's order)."""

import pytest

from tests.stack.harness import Deployment, StackMocks, declare_stack
from tests.stack.strategy_change import (
    SERVICE,
    Ecs,
    Refused,
    plan_deployment_configuration,
    pulumi_up,
    update_service_request,
)

PRIMARY = "arn:aws:mock:us-east-1:123456789012:targetgroup/alb-replicas-dev-tg"
ALTERNATE = "arn:aws:mock:us-east-1:123456789012:targetgroup/alb-replicas-dev-alt"


Step = tuple[str, dict[str, object]]


def stack(strategy: str, ecs: Ecs | None = None, **settings: object) -> Deployment:
    """The program with `strategy`, reading the production rule where `ecs` left it."""
    mocks = StackMocks()
    if ecs is not None:
        mocks.live_rules = {arn: dict(weights) for arn, weights in ecs.rules.items()}
    return declare_stack("dev", mocks=mocks, deploymentStrategy=strategy, **settings)


def walk(*steps: str | Step) -> tuple[Ecs, list[dict | None]]:
    """`pulumi up` of each step (a strategy, or one with more settings) in turn, from an empty stack; ECS.check holds
    production served at every event."""
    ecs, before, requests = None, None, []
    for step in steps:
        strategy, settings = (step, {}) if isinstance(step, str) else step
        after = stack(strategy, ecs, **settings)
        ecs, request = pulumi_up(ecs, before, after)
        requests.append(request)
        before = after
    assert ecs is not None
    return ecs, requests


CANARY: Step = ("canary:10", {"deploymentTestTraffic": True})


def test_back_to_rolling_after_a_canary_left_production_on_the_alternate_group():
    ecs, (_, to_canary, to_rolling) = walk("rolling", CANARY, "rolling")
    # The canary's deploy ended with green, and production, in the alternate group.
    assert any("blue stopped" in event for event in ecs.events)
    assert to_canary["deploymentConfiguration"]["strategy"] == "CANARY"
    # What ECS must hear going back: ROLLING, the alarms off, each task in both groups.
    assert to_rolling["deploymentConfiguration"]["strategy"] == "ROLLING"
    assert to_rolling["deploymentConfiguration"]["alarms"]["enable"] is False
    assert to_rolling["deploymentConfiguration"]["alarms"]["rollback"] is False
    assert sorted(lb["targetGroupArn"] for lb in to_rolling["loadBalancers"]) == [ALTERNATE, PRIMARY]
    assert not any("advancedConfiguration" in lb for lb in to_rolling["loadBalancers"])
    # The rule went only after the rolling deploy had registered the new tasks in the primary group too.
    deleted = [event for event in ecs.events if event.startswith("deleted")]
    rolled = max(i for i, event in enumerate(ecs.events) if event.startswith("rolling deploy"))
    assert ecs.events.index("deleted alb-replicas-dev-production") > rolled
    assert "deleted alb-replicas-dev-test" in deleted
    assert ecs.production_groups() == [PRIMARY] and ecs.targets[PRIMARY] == {ecs.revision}
    assert ecs.record["deploymentConfiguration"]["strategy"] == "ROLLING"
    assert ecs.record["alarms"]["enable"] is False


def test_the_round_trip_twice_and_shifting_to_shifting():
    linear = ("linear:20", {"deploymentVerify": False})
    ecs, requests = walk("rolling", CANARY, "rolling", "blue-green", linear, CANARY, "rolling")
    strategies = [r and r.get("deploymentConfiguration", {}).get("strategy") for r in requests]
    assert strategies == [None, "CANARY", "ROLLING", "BLUE_GREEN", "LINEAR", "CANARY", "ROLLING"]
    assert ecs.rollbacks == [], "every deploy ran"
    assert ecs.record["deploymentConfiguration"]["strategy"] == "ROLLING"


def test_the_lifecycle_hooks_the_provider_cannot_clear():
    """Known, and written in docs/configuration.md: the provider sends lifecycle hooks only when there are some.
    Back on rolling, ECS keeps the canary's hook (its stages are blue/green's, which a rolling deploy does not
    pass), and every `pulumi up` sends ROLLING again (the state has hooks, the program none). A later shifting
    strategy with `deploymentVerify` off then deploys with the deleted function as its hook: ECS rolls back."""
    ecs, requests = walk("rolling", CANARY, "rolling", "rolling")
    assert ecs.record["deploymentConfiguration"]["lifecycleHooks"], "ECS still holds the canary's hook"
    assert requests[-1]["deploymentConfiguration"] == {"strategy": "ROLLING", "bakeTimeInMinutes": "5"}
    ecs, _ = walk("rolling", CANARY, "rolling", ("linear:20", {"deploymentVerify": False}))
    assert ecs.rollbacks == [
        "hook arn:aws:lambda:us-east-1:123456789012:function:alb-replicas-dev-deploy-hook-a1b2c3d is gone"
    ]


def test_a_rolling_deploy_with_nothing_changed_sends_only_the_forced_deployment():
    _, requests = walk("rolling", "rolling")
    assert requests[1] == {"forceNewDeployment": True}


def test_what_the_provider_sent_when_rolling_left_its_blocks_out():
    """The kind version: rolling with no deployment_configuration and no alarms block, one group, against a
    service a canary left. The provider keeps both blocks (Optional+Computed; the missing alarms block
    suppressed): ECS hears only the new load balancer, stays on CANARY, and refuses it without the advanced
    configuration (where it took it instead, the same `pulumi up` went on to delete the rules)."""
    ecs, _ = walk("rolling", CANARY)
    declared = dict(stack("rolling", ecs).one(SERVICE).inputs)
    del declared["deploymentConfiguration"], declared["alarms"]
    declared["loadBalancers"] = declared["loadBalancers"][:1]
    request = update_service_request(ecs.record, declared)
    assert "deploymentConfiguration" not in request
    assert ecs.record["deploymentConfiguration"]["strategy"] == "CANARY" and ecs.record["alarms"]["enable"] is True
    with pytest.raises(Refused, match="CANARY on a load balancer without advancedConfiguration"):
        ecs.update(request)


def test_the_provider_keeps_a_computed_bake_and_sends_it_only_with_a_strategy():
    state = {"strategy": "CANARY", "bakeTimeInMinutes": "5", "canaryConfiguration": {"canaryPercent": 10.0}}
    assert plan_deployment_configuration(state, {"strategy": "ROLLING"}) == {
        "strategy": "ROLLING",
        "bakeTimeInMinutes": "5",
        "canaryConfiguration": {"canaryPercent": 10.0},
    }
    request = update_service_request(
        {"deploymentConfiguration": state}, {"deploymentConfiguration": {"strategy": "ROLLING"}}
    )
    assert request["deploymentConfiguration"] == {"strategy": "ROLLING", "bakeTimeInMinutes": "5"}


def test_a_pulumi_up_after_a_swap_declares_no_change_to_the_load_balancers():
    """After a canary, production is on the alternate group and ECS records it as the service's target group. The
    program reads the production rule and declares the same order: the provider sends no load balancers, and the
    next canary puts green in the primary group, where production is not."""
    ecs, requests = walk("rolling", CANARY, CANARY, CANARY)
    assert "loadBalancers" in requests[1], "rolling to canary: the advanced configuration"
    assert "loadBalancers" not in requests[2] and "loadBalancers" not in requests[3]
    green_groups = [event for event in ecs.events if "green registered in" in event]
    assert [event.rsplit(" ", 1)[-1] for event in green_groups] == [
        "alb-replicas-dev-alt",
        "alb-replicas-dev-tg",
        "alb-replicas-dev-alt",
    ]


def test_what_the_provider_sent_when_the_program_declared_the_primary_first_after_a_swap():
    """The kind version (the issue's open provider bug, terraform-provider-aws #45678): the primary declared first
    whatever ECS did. After a swap the provider sends the load balancers back, ECS takes the primary for production
    again, and its next deploy registers green in the alternate group, where production is."""
    ecs, _ = walk("rolling", CANARY)
    declared = dict(stack(CANARY[0], ecs, **CANARY[1]).one(SERVICE).inputs)
    (balancer,) = declared["loadBalancers"]
    assert balancer["targetGroupArn"] == ALTERNATE, "the program now declares production's group first"
    balancer = {
        **balancer,
        "targetGroupArn": PRIMARY,
        "advancedConfiguration": {**balancer["advancedConfiguration"], "alternateTargetGroupArn": ALTERNATE},
    }
    request = update_service_request(ecs.record, {**declared, "loadBalancers": [balancer]})
    assert request["loadBalancers"] == [balancer]
    with pytest.raises(AssertionError, match="green registered in alb-replicas-dev-alt, where production is"):
        ecs.update(request)
