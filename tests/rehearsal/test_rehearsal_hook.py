"""The deploy hook rehearsed: verify.hook.decide at ECS's stages on real HAProxy and nginx, its ECS and ELBv2
calls answered by stand-ins held to botocore's shapes; a green revision that splits wrong, or a rule that
moved to another share, rolled back by the hook before production moves past that step, losing no request."""

from __future__ import annotations

import io
import tempfile

import botocore.session
import pytest
from botocore.validate import validate_parameters
from rehearsal_helpers import FLOW_VERIFY, quick_plan
from test_rehearsal_shift import GREEN_IPS, finish, rehearse

import rehearsal.cli
from components.options import DeploymentStrategy
from rehearsal import Rehearsal
from rehearsal.cli import ExitCode
from rehearsal.hook import BLUE_GROUP, CLUSTER, GREEN_GROUP, PRODUCTION_RULE, SERVICE, TEST_RULE, RehearsalAws
from rehearsal.shift import shift_while_verifying
from settings import from_stack_file

pytestmark = pytest.mark.rehearsal


def test_the_stand_ins_answer_in_botocore_s_shapes(canary_split):
    """Green healthy, the production rule at 10 %, the test rule at 100 %."""
    canary_split.shift_to_green(10)
    canary_split.shift_to_green(100, test=True)
    aws = RehearsalAws(canary_split)
    ecs = botocore.session.get_session().get_service_model("ecs")
    elbv2 = botocore.session.get_session().get_service_model("elbv2")
    tasks = aws.list_tasks(cluster=CLUSTER, serviceName=SERVICE, desiredStatus="RUNNING")
    calls = [
        (ecs, "DescribeServices", aws.describe_services(cluster=CLUSTER, services=[SERVICE])),
        (ecs, "ListTasks", tasks),
        (ecs, "DescribeTasks", aws.describe_tasks(cluster=CLUSTER, tasks=tasks["taskArns"])),
        (elbv2, "DescribeRules", aws.describe_rules(RuleArns=[PRODUCTION_RULE, TEST_RULE])),
        (elbv2, "DescribeTargetHealth", aws.describe_target_health(TargetGroupArn=GREEN_GROUP)),
    ]
    for model, operation, answer in calls:
        validate_parameters(answer, model.operation_model(operation).output_shape)  # raises on a wrong shape
    assert len(tasks["taskArns"]) == 6
    production, test = aws.describe_rules(RuleArns=[PRODUCTION_RULE, TEST_RULE])["Rules"]
    weights = {g["TargetGroupArn"]: g["Weight"] for g in production["Actions"][0]["ForwardConfig"]["TargetGroups"]}
    assert weights == {BLUE_GROUP: 899, GREEN_GROUP: 100}, "10 % of ELBv2's 999"
    assert test["Actions"][0]["ForwardConfig"]["TargetGroups"][1] == {"TargetGroupArn": GREEN_GROUP, "Weight": 999}
    health = aws.describe_target_health(TargetGroupArn=GREEN_GROUP)["TargetHealthDescriptions"]
    assert {entry["TargetHealth"]["State"] for entry in health} == {"healthy"} and len(health) == 3


def test_the_hook_judges_the_test_traffic_then_each_step_then_the_end():
    strategy = DeploymentStrategy("canary", 10.0, test_traffic=True, hook=True)
    plan = quick_plan(3).with_green_slots()
    out = io.StringIO()
    with Rehearsal(plan) as running, tempfile.TemporaryFile("w+") as verify:
        code, result = shift_while_verifying(running, strategy, verify_extra=FLOW_VERIFY, out=out, verify_stdout=verify)
    assert code == 0 and result.completed, out.getvalue()
    stages = [(line["stage"], line["hook_status"]) for line in result.hook_lines]
    assert stages == [
        ("POST_TEST_TRAFFIC_SHIFT", "SUCCEEDED"),
        ("PRODUCTION_TRAFFIC_SHIFT", "SUCCEEDED"),
        ("PRODUCTION_TRAFFIC_SHIFT", "SUCCEEDED"),
        ("POST_PRODUCTION_TRAFFIC_SHIFT", "SUCCEEDED"),
    ], out.getvalue()
    test_stage = result.hook_lines[0]
    green = sorted(r.ip for r in plan.replicas if not r.registered)
    assert sorted(test_stage["replicas"]) == green, "through the test rule, green alone"
    canary_step = result.hook_lines[1]
    answers = canary_step["answers"]
    assert sum(canary_step["replicas"][ip] for ip in green) / answers == pytest.approx(0.1, abs=0.02)


def test_a_split_green_and_a_moved_rule_are_rolled_back_before_the_next_step_losing_nothing():
    runs = {
        failing: rehearse("--strategy", "canary:10", "--failing-revision", failing) for failing in ("split", "weights")
    }
    for failing, said in (("split", "never answered"), ("weights", "where ECS set 10 %")):
        code, report, err = finish(runs[failing])
        assert code == ExitCode.ROLLED_BACK, err
        assert "the deploy hook failed at PRODUCTION_TRAFFIC_SHIFT" in err and said in err, err
        assert "production shift 2" not in err, "rolled back before production moved past the canary"
        assert "hook at PRODUCTION_TRAFFIC_SHIFT (rollback): SUCCEEDED" in err
        assert report["errors"] == {}, "no request failed"
        assert not set(report["replicas"]) & set(GREEN_IPS), "back on blue"


def test_split_and_weights_need_the_hook(monkeypatch):
    settings = from_stack_file("dev")
    monkeypatch.setattr(
        rehearsal.cli, "from_stack_file", lambda stack: type(settings)(**{**vars(settings), "deployment_verify": False})
    )
    out = io.StringIO()
    code = rehearsal.cli.main(["--deploy", "--strategy", "canary:10", "--failing-revision", "split"], out)
    assert code == ExitCode.CANNOT_RUN
    assert out.getvalue() == (
        "rehearsal: --failing-revision split is what the deploy hook rolls back, and the stack runs none"
        " (deploymentVerify false)\n"
    )
