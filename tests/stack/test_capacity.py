"""Capacity as ECS places it: the strategy `capacity` builds, held to the rules of the ECS API reference
(CapacityProviderStrategyItem), which the mocks apply (`harness.strategy_problem`, `harness.place_tasks`)."""

import pulumi
import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.options import Capacity
from tests.stack.harness import STRATEGY_INPUTS, StackMocks, declare_stack, place_tasks, strategy_problem

SERVICE = "aws:ecs/service:Service"
CLUSTER_PROVIDERS = "aws:ecs/clusterCapacityProviders:ClusterCapacityProviders"


def items(capacity: Capacity) -> list[dict]:
    return [
        {"capacityProvider": provider, "base": base, "weight": weight} for provider, base, weight in capacity.strategy()
    ]


@pytest.mark.parametrize(
    ("strategy", "problem"),
    [
        (
            [{"capacityProvider": "FARGATE", "base": 1, "weight": 1}, {"capacityProvider": "FARGATE_SPOT", "base": 1}],
            "a base on 2 providers (FARGATE, FARGATE_SPOT); only one may have a base",
        ),
        (
            [{"capacityProvider": "FARGATE", "base": 2, "weight": 0}, {"capacityProvider": "FARGATE_SPOT"}],
            "every provider has weight 0; at least one needs a weight above 0",
        ),
    ],
)
def test_the_mocks_refuse_the_strategies_ecs_refuses(strategy, problem):
    assert strategy_problem(strategy) == problem
    for type_, key in STRATEGY_INPUTS.items():
        with pytest.raises(ValueError, match="ECS refuses the capacity provider strategy"):
            StackMocks().new_resource(pulumi.runtime.MockResourceArgs(type_, "s", {key[0]: strategy}, "", None, True))


@pytest.mark.parametrize(
    ("item", "refused"),
    [({"weight": 1001}, "weight: 1001 is outside 0 to 1000"), ({"base": -1}, "base: -1 is outside 0 to 100000")],
)
def test_the_mocks_refuse_a_base_or_weight_out_of_ecs_s_range(item, refused):
    for type_, key in STRATEGY_INPUTS.items():
        strategy = [{"capacityProvider": "FARGATE_SPOT", **item}]
        with pytest.raises(ValueError, match="AWS refuses") as raised:
            StackMocks().new_resource(pulumi.runtime.MockResourceArgs(type_, "s", {key[0]: strategy}, "", None, True))
        assert refused in str(raised.value)


def test_a_provider_of_weight_0_places_no_task_not_even_its_base():
    # "any capacity providers with a weight of 0 can't be used to place tasks": the strategy mixed:N built before.
    before = [
        {"capacityProvider": "FARGATE", "base": 2, "weight": 0},
        {"capacityProvider": "FARGATE_SPOT", "weight": 1},
    ]
    assert place_tasks(before, 5) == {"FARGATE": 0, "FARGATE_SPOT": 5}


@given(data=st.data(), replicas=st.integers(1, 100))
def test_mixed_n_runs_n_tasks_on_demand_and_every_other_on_spot_at_any_count(data, replicas):
    on_demand = data.draw(st.integers(1, replicas), label="N")
    running = data.draw(st.integers(replicas, 100), label="tasks running (autoscaling adds up to maxReplicas)")
    strategy = items(Capacity(spot=True, on_demand_base=on_demand))
    assert strategy_problem(strategy) is None
    assert place_tasks(strategy, running) == {"FARGATE": on_demand, "FARGATE_SPOT": running - on_demand}


@given(running=st.integers(1, 100))
def test_spot_and_on_demand_put_every_task_on_their_one_provider(running):
    assert place_tasks(items(Capacity(spot=True)), running) == {"FARGATE_SPOT": running}
    assert place_tasks(items(Capacity()), running) == {"FARGATE": running}


def test_the_stack_declares_the_mixed_strategy_on_the_service_and_as_the_clusters_default():
    deployment = declare_stack("dev", capacity="mixed:2")
    service = deployment.one(SERVICE).inputs["capacityProviderStrategies"]
    default = deployment.one(CLUSTER_PROVIDERS).inputs["defaultCapacityProviderStrategies"]
    assert place_tasks(service, 3) == place_tasks(default, 3) == {"FARGATE": 2, "FARGATE_SPOT": 1}
