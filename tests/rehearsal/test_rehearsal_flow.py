"""A flow's one bound: every wait of a deploy within it, and one line naming the step when it is overrun."""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest
from rehearsal_helpers import quick_plan

from rehearsal import Rehearsal, RehearsalError
from rehearsal.deploy import rolling_deploy
from rehearsal.flow import FLOW_BOUND_FACTOR, FLOW_BOUND_SLACK_S, Flow, flow_bound


def test_the_bound_is_the_plan_times_a_generous_factor_plus_slack() -> None:
    assert flow_bound(6.0) == FLOW_BOUND_FACTOR * 6.0 + FLOW_BOUND_SLACK_S
    assert FLOW_BOUND_FACTOR >= 4, "a machine at load 8 on 2 cores runs a process at a quarter of its speed"
    flow = Flow("deploy", 6.0, tell=lambda line: None)
    assert flow.bound_s == flow_bound(6.0) and flow.deadline == pytest.approx(flow.began + flow.bound_s)


def test_each_step_is_told_and_remembered_for_the_one_line_of_an_overrun() -> None:
    told: list[str] = []
    flow = Flow("deploy", 0.1, tell=told.append, bound_s=0.2)
    flow.say("started and registered 3 new replicas")
    began = time.monotonic()
    with pytest.raises(RehearsalError) as raised:
        flow.wait(lambda: False, waiting_for="the new replicas to pass their health checks", watch=[])
    assert time.monotonic() - began < 15, "the wait ends at the flow's bound of 0.2 s, the condition never holds"
    assert told == ["started and registered 3 new replicas"]
    assert str(raised.value) == (
        "deploy overran its bound of 0.2 s (planned: 0.1 s) waiting for the new replicas to pass their health"
        " checks; its last step: started and registered 3 new replicas"
    )
    assert raised.value.log == "", "one line: no process logs after it"


@pytest.mark.rehearsal
def test_a_deploy_whose_new_replicas_never_pass_their_checks_overruns_in_one_line_naming_the_step() -> None:
    deploy = quick_plan(2).with_deploy_slots()
    failing = tuple(r if r.registered else replace(r, fails="health-checks") for r in deploy.replicas)
    plan = replace(deploy, replicas=failing)
    told: list[str] = []
    with Rehearsal(plan) as running:
        with pytest.raises(RehearsalError) as raised:
            rolling_deploy(running, drain=True, flow=Flow("deploy", 0.5, tell=told.append, bound_s=1.0))
        assert all(running.replicas[r.ip].running for r in plan.replicas if r.registered), "the old ones still serve"
    assert re.fullmatch(
        r"deploy overran its bound of 1\.0 s \(planned: 0\.5 s\) waiting for the new replicas to pass their health"
        r" checks \(UP on every node\); its last step: started and registered 2 new replicas: [\d., ]+",
        str(raised.value),
    ), raised.value
    assert told == [str(raised.value).rsplit("its last step: ", 1)[1]]
