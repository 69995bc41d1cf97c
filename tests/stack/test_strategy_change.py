"""A change of deploymentStrategy or deploymentVerify, in any order, sends ECS what it must hear, never leaves
production on a target group without targets, never deletes what ECS still serves from, and never leaves ECS a
lifecycle hook whose function or role is gone (tests/stack/strategy_change.py models what the provider sends,
what ECS does with it and Pulumi's order)."""

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.options import DeploymentStrategy
from tests.stack.harness import Deployment, StackMocks, declare_stack
from tests.stack.strategy_change import (
    SERVICE,
    Ecs,
    HookCall,
    Refused,
    plan_deployment_configuration,
    pulumi_up,
    update_service_request,
)
from verify.sources.hook.payload import AFTER_PRODUCTION_SHIFT, AFTER_TEST_SHIFT, PRODUCTION_SHIFT

PRIMARY = "arn:aws:mock:us-east-1:123456789012:targetgroup/alb-replicas-dev-tg"
ALTERNATE = "arn:aws:mock:us-east-1:123456789012:targetgroup/alb-replicas-dev-alt"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:alb-replicas-dev-deploy-hook-a1b2c3d"
NOT_JUDGED = "deploymentVerify is off: not judged"


Step = tuple[str, dict[str, object]]

_DECLARED: dict[tuple, Deployment] = {}


def stack(strategy: str, ecs: Ecs | None = None, **settings: object) -> Deployment:
    """The program with `strategy`, reading the production rule where `ecs` left it; declared once per strategy,
    settings and production rule (a declaration takes a third of a second or more, the model a millisecond). The
    program reads no other rule, and a rolling stack none (LoadBalancer.serving_first)."""
    read = ecs.production_rule if ecs is not None and strategy != "rolling" else None
    live = {read: dict(ecs.rules[read])} if ecs is not None and read in ecs.rules else {}
    key = (strategy, tuple(sorted(settings.items())), tuple((arn, tuple(sorted(w.items()))) for arn, w in live.items()))
    if key not in _DECLARED:
        mocks = StackMocks()
        mocks.live_rules = live
        _DECLARED[key] = declare_stack("dev", mocks=mocks, deploymentStrategy=strategy, **settings)
    return _DECLARED[key]


@dataclass
class Walk:
    ecs: Ecs
    requests: list[dict | None]
    """Each step's UpdateService request (None: the service's creation)."""
    calls: list[list[HookCall]]
    """Each step's lifecycle hook calls."""


def walk(*steps: str | Step, hooks_left_out: str = "kept") -> Walk:
    """`pulumi up` of each step (a strategy, or one with more settings) in turn, from an empty stack; ECS.check holds
    production served, and every hook ECS holds callable, at every event."""
    ecs, before, requests, calls = None, None, [], []
    for step in steps:
        strategy, settings = (step, {}) if isinstance(step, str) else step
        after = stack(strategy, ecs, **settings)
        called = len(ecs.hook_calls) if ecs else 0
        ecs, request = pulumi_up(ecs, before, after, hooks_left_out)
        requests.append(request)
        calls.append(ecs.hook_calls[called:])
        before = after
    assert ecs is not None
    return Walk(ecs, requests, calls)


def stages_of(strategy: str, test_traffic: bool) -> list[str]:
    """The stages ECS calls the deploy hook at in one deploy: after the test traffic, each production step, the end."""
    kind, _, percent = strategy.partition(":")
    steps = DeploymentStrategy(kind, float(percent) if percent else None).green_shares()
    return [*([AFTER_TEST_SHIFT] if test_traffic else []), *[PRODUCTION_SHIFT] * len(steps), AFTER_PRODUCTION_SHIFT]


CANARY: Step = ("canary:10", {"deploymentTestTraffic": True})


def test_back_to_rolling_after_a_canary_left_production_on_the_alternate_group():
    walked = walk("rolling", CANARY, "rolling")
    ecs, (_, to_canary, to_rolling) = walked.ecs, walked.requests
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
    walked = walk("rolling", CANARY, "rolling", "blue-green", linear, CANARY, "rolling")
    strategies = [r and r.get("deploymentConfiguration", {}).get("strategy") for r in walked.requests]
    assert strategies == [None, "CANARY", "ROLLING", "BLUE_GREEN", "LINEAR", "CANARY", "ROLLING"]
    assert walked.ecs.rollbacks == [], "every deploy ran"
    assert walked.ecs.record["deploymentConfiguration"]["strategy"] == "ROLLING"


def test_back_on_rolling_ecs_keeps_the_hook_and_its_function_stays():
    """The provider sends lifecycle hooks only when there are some (service.go, `len(hooks) > 0`), so back on
    rolling ECS keeps the canary's hook (its stages are a shifting deploy's, which a rolling deploy does not pass),
    and every `pulumi up` sends ROLLING again (the state has the hook, the program none). The hook's function and
    role stay with every strategy: a later shifting strategy with `deploymentVerify` off sends its own hook, which
    answers without judging, and no deploy calls a function that is gone."""
    walked = walk("rolling", CANARY, "rolling", "rolling")
    (held,) = walked.ecs.hooks()
    assert held["hookTargetArn"] == FUNCTION and FUNCTION in walked.ecs.resources
    assert walked.requests[-1]["deploymentConfiguration"] == {"strategy": "ROLLING", "bakeTimeInMinutes": "5"}
    assert walked.calls[2:] == [[], []], "a rolling deploy calls no hook"
    walked = walk("rolling", CANARY, "rolling", ("linear:20", {"deploymentVerify": False}))
    assert walked.ecs.rollbacks == []
    (sent,) = walked.requests[-1]["deploymentConfiguration"]["lifecycleHooks"]
    assert sent["hookTargetArn"] == FUNCTION
    assert [(call.stage, call.judged, call.reason) for call in walked.calls[-1]] == [
        *[(PRODUCTION_SHIFT, False, NOT_JUDGED)] * 5,
        (AFTER_PRODUCTION_SHIFT, False, NOT_JUDGED),
    ]


UNVERIFIED_CANARY: Step = ("canary:10", {"deploymentTestTraffic": True, "deploymentVerify": False})
BLUE_GREEN: Step = ("blue-green", {})


@pytest.mark.parametrize(
    "steps",
    [
        (CANARY, "rolling", UNVERIFIED_CANARY),
        (CANARY, UNVERIFIED_CANARY, UNVERIFIED_CANARY),
        (BLUE_GREEN, "rolling", "rolling"),
        (UNVERIFIED_CANARY, CANARY, "rolling", BLUE_GREEN),
    ],
    ids=lambda steps: " -> ".join(step if isinstance(step, str) else _label(step) for step in steps),
)
def test_no_deploy_calls_a_missing_function_and_verify_judges_exactly_when_on(steps):
    """The named sequences of the defect: the deploy hook's function deleted while ECS held its hook (the kind
    program deleted it with `deploymentVerify` off or going to rolling). Each is a regression case of the generated
    test below."""
    _holds(steps, walk(*steps))


def _label(step: Step) -> str:
    strategy, settings = step
    return f"{strategy}{'' if settings.get('deploymentVerify', True) else ' unverified'}"


def _holds(steps: tuple[str | Step, ...], walked: Walk) -> None:
    """No rollback; each shifting deploy (every step but the first, which creates the service) calls the hook at
    each of its stages, judging exactly when its step has `deploymentVerify` on, saying so when it does not."""
    assert walked.ecs.rollbacks == []
    for index, (step, calls) in enumerate(zip(steps, walked.calls, strict=True)):
        strategy, settings = (step, {}) if isinstance(step, str) else step
        verify = bool(settings.get("deploymentVerify", True))
        test_traffic = bool(settings.get("deploymentTestTraffic", False))
        expected = stages_of(strategy, test_traffic) if index and strategy != "rolling" else []
        assert [call.stage for call in calls] == expected, f"step {index + 1} ({step})"
        assert all(call.function == FUNCTION and call.status == "SUCCEEDED" for call in calls)
        assert all(call.judged == verify for call in calls), f"step {index + 1} ({step}): judged only with verify"
        assert all(call.reason == NOT_JUDGED for call in calls if not call.judged)


STEPS = st.sampled_from(
    [
        "rolling",
        BLUE_GREEN,
        ("blue-green", {"deploymentVerify": False}),
        CANARY,
        UNVERIFIED_CANARY,
    ]
)


@pytest.mark.parametrize("hooks_left_out", ["kept", "cleared"])
@given(steps=st.lists(STEPS, min_size=2, max_size=6))
def test_no_sequence_of_strategy_and_verify_changes_calls_a_missing_function(hooks_left_out, steps):
    """Any sequence of strategies and deploymentVerify, whether ECS keeps the hooks a request leaves out or clears
    them: every hook ECS holds has its function and role (Ecs.check, after every event), no deploy rolls back, and
    the hook judges exactly the deploys whose step has deploymentVerify on."""
    _holds(tuple(steps), walk(*steps, hooks_left_out=hooks_left_out))


def test_a_rolling_deploy_with_nothing_changed_sends_only_the_forced_deployment():
    assert walk("rolling", "rolling").requests[1] == {"forceNewDeployment": True}


def test_what_the_provider_sent_when_rolling_left_its_blocks_out():
    """The kind version: rolling with no deployment_configuration and no alarms block, one group, against a
    service a canary left. The provider keeps both blocks (Optional+Computed; the missing alarms block
    suppressed): ECS hears only the new load balancer, stays on CANARY, and refuses it without the advanced
    configuration (where it took it instead, the same `pulumi up` went on to delete the rules)."""
    ecs = walk("rolling", CANARY).ecs
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
    walked = walk("rolling", CANARY, CANARY, CANARY)
    requests = walked.requests
    assert "loadBalancers" in requests[1], "rolling to canary: the advanced configuration"
    assert "loadBalancers" not in requests[2] and "loadBalancers" not in requests[3]
    green_groups = [event for event in walked.ecs.events if "green registered in" in event]
    assert [event.rsplit(" ", 1)[-1] for event in green_groups] == [
        "alb-replicas-dev-alt",
        "alb-replicas-dev-tg",
        "alb-replicas-dev-alt",
    ]


def test_what_the_provider_sent_when_the_program_declared_the_primary_first_after_a_swap():
    """The kind version (the issue's open provider bug, terraform-provider-aws #45678): the primary declared first
    whatever ECS did. After a swap the provider sends the load balancers back, ECS takes the primary for production
    again, and its next deploy registers green in the alternate group, where production is."""
    ecs = walk("rolling", CANARY).ecs
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
