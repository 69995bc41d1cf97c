"""`--target-health aws:LISTENER_RULE_ARN`: the target health of the group(s) production is forwarded to now, read
from the rule's weights (ECS moves a shifting stack's production rule from group to group), and named; the
stack's rule by default. Fakes answer as boto3's elbv2 client and the aws CLI do; never real AWS."""

from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import pytest
from verify_helpers import replica_answer

from verify import cli
from verify.cli import ExitCode, main
from verify.core.tally import TargetState
from verify.sources.hook.fleet import read_rule
from verify.sources.live.health import HealthSource, read_aws_target_health
from verify.sources.stack import StackOutputs

ACCOUNT = "arn:aws:elasticloadbalancing:eu-west-1:123456789012"
RULE = f"{ACCOUNT}:listener-rule/app/alb-replicas-prod-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6f5ddb"
PRIMARY = f"{ACCOUNT}:targetgroup/alb-replicas-prod-tg-1a2b3c4/73e2d6bc24d8a067"
ALTERNATE = f"{ACCOUNT}:targetgroup/alb-replicas-prod-alt-5d6e7f8/3f2a0c9b1d8e7f60"
TARGETS = {
    PRIMARY: [("10.0.1.5", "draining")],
    ALTERNATE: [("10.0.1.9", "healthy"), ("10.0.2.9", "unhealthy")],
}


def rule(weights: dict[str, int]) -> dict[str, object]:
    """DescribeRules' answer (botocore elbv2 Rule): one forward action, weighted (0 to 999)."""
    groups = [{"TargetGroupArn": arn, "Weight": weight} for arn, weight in weights.items()]
    action = {"Type": "forward", "Order": 1, "ForwardConfig": {"TargetGroups": groups}}
    return {"Rules": [{"RuleArn": RULE, "Priority": "100", "Actions": [action], "IsDefault": False}]}


def health(arn: str) -> dict[str, object]:
    return {
        "TargetHealthDescriptions": [
            {"Target": {"Id": ip, "Port": 8080}, "TargetHealth": {"State": state}} for ip, state in TARGETS[arn]
        ]
    }


def elbv2(weights: dict[str, int], asked: list[tuple[str | None, str, str]]):
    def client(region: str | None) -> SimpleNamespace:
        def describe_rules(RuleArns: list[str]) -> dict[str, object]:
            asked.append((region, "describe_rules", RuleArns[0]))
            return rule(weights)

        def describe_target_health(TargetGroupArn: str) -> dict[str, object]:
            asked.append((region, "describe_target_health", TargetGroupArn))
            return health(TargetGroupArn)

        return SimpleNamespace(describe_rules=describe_rules, describe_target_health=describe_target_health)

    return client


def test_after_a_swap_the_alternate_group_is_read_and_named():
    asked: list[tuple[str | None, str, str]] = []
    reading = read_aws_target_health(RULE, read_rule=read_rule, elbv2_client=elbv2({PRIMARY: 0, ALTERNATE: 1}, asked))
    assert asked[0] == ("eu-west-1", "describe_rules", RULE)
    assert reading.targets == (TargetState("10.0.1.9:8080", "healthy"), TargetState("10.0.2.9:8080", "unhealthy"))
    assert reading.note == (
        "target health of the group(s) the production rule forwards to now: "
        "targetgroup/alb-replicas-prod-alt-5d6e7f8/3f2a0c9b1d8e7f60 (100 %)"
    )


def test_mid_canary_both_groups_are_read_with_their_shares():
    reading = read_aws_target_health(RULE, read_rule=read_rule, elbv2_client=elbv2({PRIMARY: 900, ALTERNATE: 100}, []))
    assert [target.target for target in reading.targets or ()] == ["10.0.1.5:8080", "10.0.1.9:8080", "10.0.2.9:8080"]
    assert reading.note is not None and "alb-replicas-prod-tg-1a2b3c4/73e2d6bc24d8a067 (90 %)" in reading.note
    assert "(10 %)" in reading.note


def test_a_rule_that_forwards_nowhere_or_cannot_be_read_is_a_note_not_a_failure():
    nowhere = read_aws_target_health(RULE, read_rule=read_rule, elbv2_client=elbv2({PRIMARY: 0, ALTERNATE: 0}, []))
    assert (
        nowhere.targets is None
        and nowhere.note == f"target health not read: the rule {RULE} forwards to no group (all weights 0)"
    )

    def refusing(region: str | None) -> SimpleNamespace:
        def describe_rules(RuleArns: list[str]) -> dict[str, object]:
            raise RuntimeError("AccessDenied: not authorized to perform: elasticloadbalancing:DescribeRules")

        return SimpleNamespace(describe_rules=describe_rules)

    refused = read_aws_target_health(RULE, read_rule=read_rule, elbv2_client=refusing)
    assert refused.targets is None
    assert refused.note is not None and refused.note.startswith(
        "target health not read: elasticloadbalancing:DescribeRules failed (RuntimeError: AccessDenied"
    )


def test_without_boto3_the_aws_cli_asks_the_same_two_questions():
    commands: list[list[str]] = []

    def run(command: list[str], **_options: object) -> subprocess.CompletedProcess[str]:
        commands.append(command)
        if command[2] == "describe-rules":
            answer = rule({PRIMARY: 0, ALTERNATE: 1})
        else:
            answer = health(command[command.index("--target-group-arn") + 1])
        return subprocess.CompletedProcess(command, 0, json.dumps(answer), "")

    reading = read_aws_target_health(RULE, read_rule=read_rule, which=lambda name: "/usr/bin/aws", run=run)
    assert commands[0] == [
        "aws",
        "elbv2",
        "describe-rules",
        "--rule-arns",
        RULE,
        "--output",
        "json",
        "--region",
        "eu-west-1",
    ]
    assert [command[2] for command in commands] == [
        "describe-rules",
        "describe-target-health",
        "describe-target-health",
    ]
    assert reading.targets is not None and len(reading.targets) == 2


def test_a_listener_rule_arn_is_a_target_health_source_and_a_listener_s_is_not():
    assert HealthSource.parse(f"aws:{RULE}") == HealthSource("aws", RULE)
    listener = f"{ACCOUNT}:listener/app/alb-replicas-prod-alb/50dc6c495c0c9188/f2f7dc8efc522ab2"
    with pytest.raises(Exception, match="aws:LISTENER_RULE_ARN"):
        HealthSource.parse(f"aws:{listener}")


def test_measuring_a_shifting_stack_reads_its_production_rule(serve, capsys, monkeypatch):
    server = serve("127.0.0.2", lambda number: replica_answer(("10.0.1.9", "10.0.2.9")[number % 2]))
    outputs = StackOutputs(
        f"http://127.0.0.2:{server.port}/", 2, 2, None, (), target_group_arn=PRIMARY, production_rule_arn=RULE
    )
    monkeypatch.setattr(cli, "read_stack_outputs", lambda stack: outputs)
    asked: list[tuple[str | None, str, str]] = []
    from verify.sources.live import health as health_module

    monkeypatch.setattr(health_module, "_boto3_elbv2", elbv2({PRIMARY: 0, ALTERNATE: 1}, asked))
    code = main(["--json", "--wait", "2", "--timeout", "2", "--requests", "40"])
    report = json.loads(capsys.readouterr().out)
    assert code == ExitCode.UNEVEN, "the alternate group's unhealthy target, not the primary's draining one"
    assert "targets not healthy at the start of the run: 10.0.2.9:8080 unhealthy" in report["reason"]
    assert ("eu-west-1", "describe_rules", RULE) in asked
    assert any(
        "the production rule forwards to now: targetgroup/alb-replicas-prod-alt" in note for note in report["notes"]
    )
