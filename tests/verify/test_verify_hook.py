"""The deploy hook (verify.hook.decide): every stage's payload as AWS documents it, every outcome, against
botocore's Stubber (each request and each answer held to botocore's ECS and ELBv2 models) and a balancer
stand-in on loopback. It never raises: a malformed payload, a failed call, a defect are FAILED with a reason."""

from __future__ import annotations

import copy
import ipaddress
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st
from verify_helpers import LoopbackServer, replica_answer

import verify.hook
from tests.hook_payloads import ACCOUNT, AWS_EXAMPLES, BLUE_ID, CLUSTER, GREEN_ID, REGION, ROLLBACK, SERVICE, event
from verify.hook import CALL_BACK_S, MARGIN_S, MEASURE_FLOOR_S, Clients, decide
from verify.rendering.terminal import REPORT_KEYS
from verify.sources.hook.payload import HOOK_STAGES, PROGRESS_KEY, HookSettings

HOOK_KEYS = ("stage", "revision", "step", "hook_status", "calls", "stage_elapsed_s")
ELB = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}"
RULE = f"{ELB}:listener-rule/app/my-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
TEST_RULE = f"{ELB}:listener-rule/app/my-alb/50dc6c495c0c9188/f2f7dc8efc522ab2/1a2b3c4d5e6f7a8b"
BLUE_TG = f"{ELB}:targetgroup/tg-1/73e2d6bc24d8a067"
GREEN_TG = f"{ELB}:targetgroup/tg-2/8e2f6c0a1b3d5e7f"
GREEN_IPS = ("10.0.1.10", "10.0.2.10", "10.0.1.11")
BLUE_IPS = ("10.0.1.20", "10.0.2.20", "10.0.1.21")


def hook_settings(
    url: str, *, test: bool = True, shares: Sequence[float] = (10.0, 100.0), stage_s: float = 900
) -> HookSettings:
    return HookSettings(
        url=url,
        production_rule_arn=RULE,
        test_rule_arn=TEST_RULE if test else None,
        test_header=("X-Deploy-Test", "green") if test else None,
        green_shares=tuple(shares),
        algorithm="round_robin",
        alpha=0.01 / 4,
        green_error_rate=0.01,
        stage_seconds=stage_s,
    )


@dataclass
class Fleet:
    """What ECS and ELBv2 answer, queued on botocore's Stubber for one call of the hook."""

    green: Sequence[str] = GREEN_IPS
    blue: Sequence[str] = BLUE_IPS
    desired: int = 3
    weights: tuple[int, int] = (90, 10)  # (blue group, green group) in the production rule
    unregistered: Sequence[str] = ()
    states: dict[str, str] = field(default_factory=dict)

    def queue(self, ecs: Stubber, elb: Stubber, rule: str, spelled: dict[str, str] | None = None) -> None:
        """`spelled`: how ELBv2 writes a target's address, where it differs from the replica's id."""
        ecs.add_response(
            "describe_services",
            {"services": [{"serviceName": SERVICE, "desiredCount": self.desired}], "failures": []},
            {"cluster": CLUSTER, "services": [SERVICE]},
        )
        tasks = [(ip, GREEN_ID) for ip in self.green] + [(ip, BLUE_ID) for ip in self.blue]
        arns = [f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{index:032x}" for index in range(len(tasks))]
        ecs.add_response(
            "list_tasks", {"taskArns": arns}, {"cluster": CLUSTER, "serviceName": SERVICE, "desiredStatus": "RUNNING"}
        )
        ecs.add_response(
            "describe_tasks",
            {
                "tasks": [_task(arn, ip, revision) for arn, (ip, revision) in zip(arns, tasks, strict=True)],
                "failures": [],
            },
            {"cluster": CLUSTER, "tasks": arns},
        )
        groups = (
            [{"TargetGroupArn": GREEN_TG, "Weight": 1}]
            if rule == TEST_RULE
            else [
                {"TargetGroupArn": BLUE_TG, "Weight": self.weights[0]},
                {"TargetGroupArn": GREEN_TG, "Weight": self.weights[1]},
            ]
        )
        elb.add_response(
            "describe_rules",
            {
                "Rules": [
                    {
                        "RuleArn": rule,
                        "Priority": "2",
                        "Actions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": groups}}],
                    }
                ]
            },
            {"RuleArns": [rule]},
        )
        for group in groups:
            ips = self.green if group["TargetGroupArn"] == GREEN_TG else self.blue
            elb.add_response(
                "describe_target_health",
                {
                    "TargetHealthDescriptions": [
                        {
                            "Target": {"Id": (spelled or {}).get(ip, ip), "Port": 8080},
                            "TargetHealth": {"State": self.states.get(ip, "healthy")},
                        }
                        for ip in ips
                        if ip not in self.unregistered
                    ]
                },
                {"TargetGroupArn": group["TargetGroupArn"]},
            )


def _task(arn: str, ip: str, revision: str) -> dict[str, Any]:
    """A Fargate task as DescribeTasks gives it: an IPv4 one's address in its network interface attachment and
    its container's networkInterfaces, an IPv6-only one's in networkInterfaces alone (no IPv4 to give)."""
    ipv6 = ":" in ip
    interface = {"attachmentId": "attach-1", **({"ipv6Address": ip} if ipv6 else {"privateIpv4Address": ip})}
    details = [{"name": "networkInterfaceId", "value": "eni-0abc"}]
    return {
        "taskArn": arn,
        "lastStatus": "RUNNING",
        "startedBy": f"ecs-svc/{revision}",
        "containers": [{"name": "replica", "networkInterfaces": [interface]}],
        "attachments": [
            {
                "id": "attach-1",
                "type": "ElasticNetworkInterface",
                "status": "ATTACHED",
                "details": details if ipv6 else [*details, {"name": "privateIPv4Address", "value": ip}],
            }
        ],
    }


@dataclass
class Aws:
    ecs: Stubber
    elb: Stubber
    clients: Clients


@pytest.fixture
def aws() -> Iterator[Aws]:
    made = {
        name: boto3.client(name, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test")
        for name in ("ecs", "elbv2")
    }
    stubs = Aws(Stubber(made["ecs"]), Stubber(made["elbv2"]), Clients(ecs=made["ecs"], elb=made["elbv2"]))
    with stubs.ecs, stubs.elb:
        yield stubs
        stubs.ecs.assert_no_pending_responses()
        stubs.elb.assert_no_pending_responses()


@pytest.fixture
def balancer(serve: Callable[..., LoopbackServer]) -> Callable[[Sequence[str]], LoopbackServer]:
    """A balancer stand-in on 127.0.0.2 whose answers cycle through `pattern` (the replica ids in turn)."""

    def start(pattern: Sequence[str]) -> LoopbackServer:
        pattern = list(pattern)
        return serve("127.0.0.2", lambda number: replica_answer(pattern[number % len(pattern)]))

    return start


def run(
    payload: object, aws: Aws, *, remaining_s: float = 60.0, clock: Callable[[], float] = time.time
) -> verify.hook.Outcome:
    outcome = decide(
        payload, aws.clients, remaining_s=remaining_s, resolver=lambda host, port: ["127.0.0.2"], clock=clock
    )
    assert tuple(outcome.line) == (*REPORT_KEYS, *HOOK_KEYS), "the keys of verify --json, then the hook's"
    assert outcome.line["hook_status"] == outcome.answer["hookStatus"]
    json.dumps(outcome.line)  # one JSON line, whatever the outcome
    return outcome


def url_of(server: LoopbackServer) -> str:
    return f"http://alb.test:{server.port}/"


def canary(percent: int) -> list[str]:
    """A rotation that gives the green replicas `percent` % of the answers, evenly, and the blue ones the rest."""
    return list(GREEN_IPS) * percent + list(BLUE_IPS) * (100 - percent)


# --- the stages, with AWS's example payloads ------------------------------------------------------------


def test_after_the_test_shift_every_green_replica_answers_through_the_test_header(aws, balancer):
    server = balancer(GREEN_IPS)
    Fleet().queue(aws.ecs, aws.elb, TEST_RULE)
    outcome = run(event("POST_TEST_TRAFFIC_SHIFT", hook_settings(url_of(server)).details()), aws)
    assert outcome.answer == {"hookStatus": "SUCCEEDED"}, outcome.line["reason"]
    assert outcome.line["step"] == "test traffic" and outcome.line["verdict"] == "even"
    assert set(outcome.line["replicas"]) == set(GREEN_IPS)
    assert all(request.get("X-Deploy-Test") == "green" for request in server.requests)
    assert outcome.line["requests"] >= 443, "the power rule's count for 3 replicas, at least"
    assert outcome.line["revision"].endswith(GREEN_ID)


def test_a_blue_replica_behind_the_test_rule_fails_the_test_stage(aws, balancer):
    server = balancer([*GREEN_IPS, BLUE_IPS[0]])
    Fleet().queue(aws.ecs, aws.elb, TEST_RULE)
    outcome = run(event("POST_TEST_TRAFFIC_SHIFT", hook_settings(url_of(server)).details()), aws)
    assert outcome.answer == {"hookStatus": "FAILED"}
    assert BLUE_IPS[0] in outcome.line["reason"] and outcome.line["reason"].startswith("test traffic: ")


def test_one_green_replica_answering_as_another_fails_the_test_stage(aws, balancer):
    server = balancer([GREEN_IPS[0], GREEN_IPS[1], GREEN_IPS[0]])
    Fleet().queue(aws.ecs, aws.elb, TEST_RULE)
    outcome = run(event("POST_TEST_TRAFFIC_SHIFT", hook_settings(url_of(server)).details()), aws)
    assert outcome.answer == {"hookStatus": "FAILED"}
    assert "never answered" in outcome.line["reason"] and GREEN_IPS[2] in outcome.line["reason"]


def test_a_canary_step_that_splits_as_set_passes(aws, balancer):
    server = balancer(canary(10))
    Fleet().queue(aws.ecs, aws.elb, RULE)
    outcome = run(event("PRODUCTION_TRAFFIC_SHIFT", hook_settings(url_of(server)).details(), green=10, blue=90), aws)
    assert outcome.answer == {"hookStatus": "SUCCEEDED"}, outcome.line["reason"]
    assert outcome.line["step"] == "production step 1 of 2 (10 % to green)"
    green = sum(outcome.line["replicas"][ip] for ip in GREEN_IPS) / outcome.line["answers"]
    assert green == pytest.approx(0.10, abs=0.01)
    assert {entry["state"] for entry in outcome.line["target_health"]} == {"healthy"}


def test_a_balancer_that_splits_otherwise_than_the_rule_fails_the_step_measured(aws, balancer):
    """The rule says 10 % (as ECS set it), the balancer gives green 20 %: only the answers show it."""
    server = balancer(canary(20))
    Fleet().queue(aws.ecs, aws.elb, RULE)
    outcome = run(event("PRODUCTION_TRAFFIC_SHIFT", hook_settings(url_of(server)).details(), green=10, blue=90), aws)
    assert outcome.answer == {"hookStatus": "FAILED"}
    assert "chi-square" in outcome.line["reason"]


def test_aws_s_production_example_is_green_alone(aws, balancer):
    server = balancer(GREEN_IPS)
    Fleet(weights=(0, 1)).queue(aws.ecs, aws.elb, RULE)
    outcome = run(event("PRODUCTION_TRAFFIC_SHIFT", hook_settings(url_of(server)).details()), aws)
    assert outcome.answer == {"hookStatus": "SUCCEEDED"}, outcome.line["reason"]
    assert outcome.line["step"] == "production step 2 of 2 (100 % to green)"


def test_after_the_production_shift_green_alone_answers(aws, balancer):
    server = balancer([*GREEN_IPS, *BLUE_IPS])
    Fleet(weights=(0, 1)).queue(aws.ecs, aws.elb, RULE)
    outcome = run(event("POST_PRODUCTION_TRAFFIC_SHIFT", hook_settings(url_of(server)).details()), aws)
    assert outcome.answer == {"hookStatus": "FAILED"}, "blue still answers after the production shift"
    assert "replicas answered where 3 were expected" in outcome.line["reason"]


def test_ipv6_only_replicas_are_named_by_their_ipv6_address_whatever_its_spelling(aws, balancer):
    """An IPv6-only task has no IPv4 address; the target group may spell its address in full, nginx compresses it."""
    green = ("2600:1f18:1::a", "2600:1f18:2::a", "2600:1f18:1::b")
    blue = ("2600:1f18:1::14", "2600:1f18:2::14", "2600:1f18:1::15")
    server = balancer([*green] * 10 + [*blue] * 90)
    spelled = {ip: ipaddress.ip_address(ip).exploded for ip in (*green, *blue)}
    Fleet(green=green, blue=blue).queue(aws.ecs, aws.elb, RULE, spelled=spelled)
    outcome = run(event("PRODUCTION_TRAFFIC_SHIFT", hook_settings(url_of(server)).details(), green=10, blue=90), aws)
    assert outcome.answer == {"hookStatus": "SUCCEEDED"}, outcome.line["reason"]
    assert set(outcome.line["replicas"]) == {*green, *blue}
    assert {entry["target"] for entry in outcome.line["target_health"]} == {f"{ip}:8080" for ip in (*green, *blue)}


def test_a_rule_still_at_the_step_before_is_judged_as_it_holds_with_a_note(aws, balancer):
    """AWS does not say whether the rule has moved when the hook is called: judged as the rule holds it."""
    server = balancer(BLUE_IPS)
    Fleet(weights=(1, 0)).queue(aws.ecs, aws.elb, RULE)
    outcome = run(event("PRODUCTION_TRAFFIC_SHIFT", hook_settings(url_of(server)).details(), green=10, blue=90), aws)
    assert outcome.answer == {"hookStatus": "SUCCEEDED"}, outcome.line["reason"]
    assert any("still sends 0 % to green" in note for note in outcome.line["notes"])


def test_a_rule_at_another_share_fails_before_any_request(aws, balancer):
    server = balancer(canary(30))
    Fleet(weights=(70, 30)).queue(aws.ecs, aws.elb, RULE)
    outcome = run(event("PRODUCTION_TRAFFIC_SHIFT", hook_settings(url_of(server)).details(), green=10, blue=90), aws)
    assert outcome.answer == {"hookStatus": "FAILED"}
    assert (
        outcome.line["reason"]
        == "the production rule sends 30 % of requests to green's target group where ECS set 10 %"
    )
    assert server.requests == []


def test_a_green_task_missing_from_its_target_group_fails(aws, balancer):
    server = balancer(canary(10))
    Fleet(unregistered=[GREEN_IPS[2]]).queue(aws.ecs, aws.elb, RULE)
    outcome = run(event("PRODUCTION_TRAFFIC_SHIFT", hook_settings(url_of(server)).details(), green=10, blue=90), aws)
    assert outcome.answer == {"hookStatus": "FAILED"}
    assert f"not registered: {GREEN_IPS[2]}" in outcome.line["reason"]


def test_an_unhealthy_green_target_fails_the_step(aws, balancer):
    server = balancer(canary(10))
    Fleet(states={GREEN_IPS[1]: "unhealthy"}).queue(aws.ecs, aws.elb, RULE)
    outcome = run(event("PRODUCTION_TRAFFIC_SHIFT", hook_settings(url_of(server)).details(), green=10, blue=90), aws)
    assert outcome.answer == {"hookStatus": "FAILED"}
    assert GREEN_IPS[1] in outcome.line["reason"] and "unhealthy" in outcome.line["reason"]


def test_fewer_green_tasks_than_the_service_wants_fail(aws, balancer):
    server = balancer(canary(10))
    aws.ecs.add_response(
        "describe_services",
        {"services": [{"serviceName": SERVICE, "desiredCount": 4}], "failures": []},
        {"cluster": CLUSTER, "services": [SERVICE]},
    )
    fleet = Fleet()
    arns = [f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{index:032x}" for index in range(6)]
    aws.ecs.add_response(
        "list_tasks", {"taskArns": arns}, {"cluster": CLUSTER, "serviceName": SERVICE, "desiredStatus": "RUNNING"}
    )
    tasks = [(ip, GREEN_ID) for ip in fleet.green] + [(ip, BLUE_ID) for ip in fleet.blue]
    aws.ecs.add_response(
        "describe_tasks",
        {"tasks": [_task(arn, ip, revision) for arn, (ip, revision) in zip(arns, tasks, strict=True)]},
        {"cluster": CLUSTER, "tasks": arns},
    )
    outcome = run(event("PRODUCTION_TRAFFIC_SHIFT", hook_settings(url_of(server)).details(), green=10, blue=90), aws)
    assert outcome.answer == {"hookStatus": "FAILED"}
    assert (
        outcome.line["reason"]
        == f"green (revision {GREEN_ID}) runs 3 task(s) with an address where the service wants 4"
    )


def test_a_rollback_goes_ahead_at_once(aws):
    details = hook_settings("http://alb.test/").details()
    for payload in (
        event("PRODUCTION_TRAFFIC_SHIFT", details, green=0, blue=100),
        {**copy.deepcopy(ROLLBACK), "hookDetails": details},
    ):
        outcome = run(payload, aws)
        assert outcome.answer == {"hookStatus": "SUCCEEDED"}
        assert outcome.line["verdict"] == "not measured" and BLUE_ID in outcome.line["reason"]


@pytest.mark.parametrize(
    "stage", ["PRE_SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT"]
)
def test_a_stage_it_is_not_for_fails_naming_the_stages_it_judges(aws, stage):
    outcome = run(event(stage, hook_settings("http://alb.test/").details()), aws)
    assert outcome.answer == {"hookStatus": "FAILED"}
    assert f"ECS called the hook at {stage}, where it measures nothing" in outcome.line["reason"]


def test_a_failed_aws_call_fails_naming_it(aws):
    aws.ecs.add_response(
        "describe_services",
        {"services": [{"serviceName": SERVICE, "desiredCount": 3}]},
        {"cluster": CLUSTER, "services": [SERVICE]},
    )
    aws.ecs.add_client_error(
        "list_tasks", "AccessDeniedException", "User is not authorized to perform: ecs:ListTasks", http_status_code=400
    )
    outcome = run(
        event("PRODUCTION_TRAFFIC_SHIFT", hook_settings("http://alb.test/").details(), green=10, blue=90), aws
    )
    assert outcome.answer == {"hookStatus": "FAILED"}
    assert outcome.line["reason"].startswith("ecs:ListTasks failed (AccessDeniedException: User is not authorized")


# --- a measurement longer than one call -------------------------------------------------------------------


def test_a_measurement_outlasting_its_call_goes_on_in_the_next_and_is_judged_whole(aws, serve):
    """Each answer takes 20 ms: 10 connections send at most 500 a second; the first call measures 7 s at most,
    fewer than the 3,754 requests the step needs. Its 2 s more than the floor are for its AWS calls on a busy
    machine (with 0.5 s, at load 10 it had no time left to measure at all)."""

    def slow(number: int) -> Any:
        time.sleep(0.02)
        return replica_answer(canary(10)[number % 300])

    server = serve("127.0.0.2", slow)
    details = hook_settings(url_of(server)).details()
    Fleet().queue(aws.ecs, aws.elb, RULE)
    remaining_s = MARGIN_S + MEASURE_FLOOR_S + 2
    first = run(event("PRODUCTION_TRAFFIC_SHIFT", details, green=10, blue=90), aws, remaining_s=remaining_s)
    assert first.answer["hookStatus"] == "IN_PROGRESS", first.line["reason"]
    assert first.answer["callBackDelay"] == CALL_BACK_S
    progress = first.answer["hookDetails"][PROGRESS_KEY]
    assert 0 < progress["requests"] < 3754 and progress["calls"] == 1, first.line["reason"]
    assert first.line["verdict"] == "pending" and "the next call continues" in first.line["reason"]
    # ECS merges what the hook returned into the next call's hookDetails.
    Fleet().queue(aws.ecs, aws.elb, RULE)
    second = run(event("PRODUCTION_TRAFFIC_SHIFT", {**details, **first.answer["hookDetails"]}, green=10, blue=90), aws)
    assert second.answer == {"hookStatus": "SUCCEEDED"}, second.line["reason"]
    assert second.line["calls"] == 2 and second.line["requests"] >= 3000
    assert second.line["requests"] == progress["requests"] + len(server.requests) - progress["requests"] - _warm_up(
        server
    )


def _warm_up(server: LoopbackServer) -> int:
    """Requests the warm-ups sent (their own User-Agent): not counted in the measurement."""
    return sum(1 for request in server.requests if "warm-up" in request.get("User-Agent", ""))


def test_a_later_step_starts_afresh_whatever_an_earlier_one_carried(aws, balancer):
    server = balancer(GREEN_IPS)
    details = hook_settings(url_of(server)).details()
    carried = {
        PROGRESS_KEY: {
            "key": "PRODUCTION_TRAFFIC_SHIFT/x/10",
            "startedAt": 1.8e9,
            "calls": 3,
            "requests": 10,
            "counts": {},
            "errors": {"timeout": 10},
        }
    }
    Fleet(weights=(0, 1)).queue(aws.ecs, aws.elb, RULE)
    outcome = run(event("PRODUCTION_TRAFFIC_SHIFT", {**details, **carried}), aws)
    assert outcome.answer == {"hookStatus": "SUCCEEDED"} and outcome.line["calls"] == 1


def test_a_stage_past_its_bound_fails_with_what_it_measured(aws, balancer):
    server = balancer(canary(10))
    details = hook_settings(url_of(server), stage_s=60).details()
    key = f"PRODUCTION_TRAFFIC_SHIFT/{GREEN_ID}/10"
    carried = {
        PROGRESS_KEY: {
            "key": key,
            "startedAt": 1.8e9,
            "calls": 9,
            "requests": 200,
            "counts": {"10.0.1.10": 200},
            "errors": {},
        }
    }
    Fleet().queue(aws.ecs, aws.elb, RULE)
    outcome = run(
        event("PRODUCTION_TRAFFIC_SHIFT", {**details, **carried}, green=10, blue=90), aws, clock=lambda: 1.8e9 + 61
    )
    assert outcome.answer == {"hookStatus": "FAILED"}
    assert "measured 200 of the" in outcome.line["reason"] and "not judged, so not passed" in outcome.line["reason"]
    assert server.requests == []


def test_a_call_answers_within_its_time_whatever_the_balancer_does(aws, serve):
    """Each answer takes 0.3 s: the call stops measuring at its budget and answers IN_PROGRESS in time."""

    def slow(number: int) -> Any:
        time.sleep(0.3)
        return replica_answer(canary(10)[number % 300])

    server = serve("127.0.0.2", slow)
    Fleet().queue(aws.ecs, aws.elb, RULE)
    began = time.monotonic()
    outcome = run(
        event("PRODUCTION_TRAFFIC_SHIFT", hook_settings(url_of(server)).details(), green=10, blue=90),
        aws,
        remaining_s=16,
    )
    # It measures for 16 - MARGIN_S = 6 s; the 3,754 requests the step needs would take 113 s.
    assert time.monotonic() - began < 16 - 2, "the answer inside the call's time, with a margin"
    assert outcome.answer["hookStatus"] == "IN_PROGRESS"


# --- malformed payloads -------------------------------------------------------------------------------------


def _with(stage: str, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    payload = event(stage, hook_settings("http://alb.test/").details(), green=10, blue=90)
    change(payload)
    return payload


MALFORMED = {
    "not an object": (["PRODUCTION_TRAFFIC_SHIFT"], "the event is list, not a JSON object"),
    "no stage": (_with("PRODUCTION_TRAFFIC_SHIFT", lambda p: p.pop("lifecycleStage")), "lifecycleStage is missing"),
    "an unknown stage": (
        _with("PRODUCTION_TRAFFIC_SHIFT", lambda p: p.update(lifecycleStage="BAKE_TIME")),
        "'BAKE_TIME' is not a stage",
    ),
    "no execution details": (
        _with("PRODUCTION_TRAFFIC_SHIFT", lambda p: p.pop("executionDetails")),
        "executionDetails is missing",
    ),
    "a short service ARN": (
        _with(
            "PRODUCTION_TRAFFIC_SHIFT",
            lambda p: p["executionDetails"].update(serviceArn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/my-service"),
        ),
        "not a service ARN of the long format",
    ),
    "another service's revision": (
        _with(
            "PRODUCTION_TRAFFIC_SHIFT",
            lambda p: p["executionDetails"].update(
                targetServiceRevisionArn=p["executionDetails"]["targetServiceRevisionArn"].replace(
                    "my-service", "other"
                )
            ),
        ),
        "is not a revision of",
    ),
    "weights over 100": (
        _with(
            "PRODUCTION_TRAFFIC_SHIFT",
            lambda p: p["executionDetails"]["productionTrafficWeights"].update(
                {k: 90 for k in p["executionDetails"]["productionTrafficWeights"]}
            ),
        ),
        "add up to 180, not 100",
    ),
    "a weight as text": (
        _with(
            "PRODUCTION_TRAFFIC_SHIFT",
            lambda p: p["executionDetails"]["productionTrafficWeights"].update(
                {k: "10" for k in list(p["executionDetails"]["productionTrafficWeights"])[:1]}
            ),
        ),
        "'10' is text, not a number",
    ),
    "a weight true": (
        _with(
            "PRODUCTION_TRAFFIC_SHIFT",
            lambda p: p["executionDetails"]["productionTrafficWeights"].update(
                {k: True for k in list(p["executionDetails"]["productionTrafficWeights"])[:1]}
            ),
        ),
        "true is not a number",
    ),
    "no hookDetails": (_with("PRODUCTION_TRAFFIC_SHIFT", lambda p: p.pop("hookDetails")), "hookDetails is missing"),
    "no settings": (
        _with("PRODUCTION_TRAFFIC_SHIFT", lambda p: p.update(hookDetails={})),
        "hookDetails.verify is missing",
    ),
    "alpha infinite": (
        _with("PRODUCTION_TRAFFIC_SHIFT", lambda p: p["hookDetails"]["verify"].update(alpha=float("inf"))),
        "alpha inf must be",
    ),
    "judge as text": (
        _with("PRODUCTION_TRAFFIC_SHIFT", lambda p: p["hookDetails"]["verify"].update(judge="false")),
        "judge 'false' is not true or false",
    ),
    "shares not rising to 100": (
        _with("PRODUCTION_TRAFFIC_SHIFT", lambda p: p["hookDetails"]["verify"].update(greenShares=[10, 50])),
        "do not rise to 100",
    ),
    "progress that is not the hook's": (
        _with(
            "PRODUCTION_TRAFFIC_SHIFT",
            lambda p: p["hookDetails"].update(
                {
                    PROGRESS_KEY: {
                        "key": f"PRODUCTION_TRAFFIC_SHIFT/{GREEN_ID}/10",
                        "startedAt": 1.8e9,
                        "calls": 1,
                        "requests": 5,
                        "counts": {"a": 9},
                        "errors": {},
                    }
                }
            ),
        ),
        "more answers and errors than requests",
    ),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_a_malformed_payload_fails_saying_what_is_wrong(aws, name):
    payload, said = MALFORMED[name]
    outcome = run(payload, aws)
    assert outcome.answer == {"hookStatus": "FAILED"}
    assert outcome.line["reason"].startswith("malformed payload: ") and said in outcome.line["reason"], outcome.line[
        "reason"
    ]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=30,
)


def _mutations() -> st.SearchStrategy[object]:
    """AWS's examples with one value anywhere replaced by any JSON, and any JSON at all."""

    def mutate(payload: dict[str, Any], path: list[int], value: object) -> object:
        node: Any = payload
        for step in path:
            if not isinstance(node, dict) or not node:
                break
            key = sorted(node)[step % len(node)]
            if not isinstance(node[key], dict) or not node[key]:
                node[key] = value
                return payload
            node = node[key]
        return payload

    examples = st.sampled_from(sorted(AWS_EXAMPLES)).map(
        lambda stage: event(stage, hook_settings("http://alb.test/").details())
    )
    return st.builds(mutate, examples, st.lists(st.integers(0, 8), min_size=1, max_size=4), JSON) | JSON


class Unreachable:
    """AWS out of reach: every call fails as botocore's does without a network."""

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        def call(**params: Any) -> Any:
            raise ConnectionError(f"Could not connect to the endpoint URL for {operation}")

        return call


@settings(deadline=None)
@given(payload=_mutations())
def test_any_payload_gets_an_answer_and_never_an_exception(payload):
    """No AWS client is reachable here: a payload that gets as far as reading the fleet fails on it, named."""
    outcome = decide(
        payload, Clients(ecs=Unreachable(), elb=Unreachable()), remaining_s=30, resolver=lambda host, port: []
    )
    assert outcome.answer["hookStatus"] in ("SUCCEEDED", "FAILED")
    assert outcome.line["reason"] and "internal error" not in outcome.line["reason"], outcome.line["reason"]


def test_the_stages_read_are_botocore_s():
    model = botocore.session.get_session().get_service_model("ecs")
    assert tuple(model.shape_for("DeploymentLifecycleHookStage").enum) == HOOK_STAGES


def test_the_lambda_handler_prints_one_line_and_answers(monkeypatch, capsys, aws):
    monkeypatch.setattr(verify.hook, "_clients", aws.clients)

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 30_000

    answer = verify.hook.handler(event("PRE_SCALE_UP", hook_settings("http://alb.test/").details()), Context())
    out = capsys.readouterr().out
    assert answer == {"hookStatus": "FAILED"}
    (line,) = out.splitlines()
    assert json.loads(line)["stage"] == "PRE_SCALE_UP"
