"""Blue/green, linear and canary deploys rehearsed on real HAProxy and nginx: two target groups per node,
ECS's weighted listener rules as ACLs moved through HAProxy's runtime API, verify measuring the whole
time; a failing green revision rolled back; verify's weighted judgement against a real canary split."""

from __future__ import annotations

import http.client
import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from rehearsal_helpers import FLOW_VERIFY, VERIFY_QUICK, run_verify

from components.options import TEST_HEADER, DeploymentStrategy, RollbackAlarmTiming
from rehearsal import Plan, Rehearsal
from rehearsal.cli import ExitCode
from rehearsal.configs import GREEN_TARGETS, haproxy_config
from rehearsal.shift import ALARM_POLL_S, expected_shift_seconds, shift_while_verifying
from rehearsal.stage import Running
from settings import deployment_strategy_of, from_stack_file
from stack_config import PROJECT_DIR

pytestmark = pytest.mark.rehearsal

DEV = from_stack_file("dev")
DEV_GREEN = Plan.from_settings(DEV).with_green_slots()
BLUE_IPS = sorted(r.ip for r in DEV_GREEN.replicas if r.registered)
GREEN_IPS = sorted(r.ip for r in DEV_GREEN.replicas if not r.registered)
# The dev stack's bake times (5 min, 4 min step) at 1/50: 6 s and 4.8 s; health checks every 0.1 s; the rollback
# alarms' minute 1.2 s, the ALB's metric delay and CloudWatch's evaluation 2.4 s.
TIME_SCALE = "0.02"
AT_SCALE = replace(DEV_GREEN, time_scale=float(TIME_SCALE))


def test_a_shifting_plan_s_nodes_hold_green_apart_and_choose_by_acl():
    config = haproxy_config(DEV_GREEN, DEV_GREEN.zones[0], Path("/tmp/x/zone-a.sock"))
    assert "acl to_green_production rand(1000) -m int -f /tmp/x/zone-a.production.acl" in config
    assert "use_backend green_targets if test_traffic to_green_test" in config
    green = config.split(f"\nbackend {GREEN_TARGETS}\n", 1)[1].split("\n\n", 1)[0]
    assert green.count("server ") == 3 and all(ip in green for ip in GREEN_IPS)
    blue = config.split("\nbackend node_targets\n", 1)[1].split("\n\n", 1)[0]
    assert all(ip not in blue for ip in GREEN_IPS)


def test_a_rolling_plan_s_config_has_no_second_group():
    plan = Plan.from_settings(DEV).with_deploy_slots()
    assert GREEN_TARGETS not in haproxy_config(plan, plan.zones[0], Path("/tmp/x/zone-a.sock"))


def test_the_expected_time_counts_the_step_bakes_between_the_shifts_and_the_bake():
    linear = DeploymentStrategy("linear", 34.0, bake_minutes=5, step_bake_minutes=1)
    canary = DeploymentStrategy("canary", 10.0, bake_minutes=5, step_bake_minutes=1)
    assert expected_shift_seconds(DEV_GREEN, linear) - expected_shift_seconds(DEV_GREEN, canary) == 60


def weights_argv(running: Running, green_weight: int) -> list[str]:
    plan = running.plan
    blue = "+".join(r.ip for r in plan.replicas if r.registered)
    green = "+".join(r.ip for r in plan.replicas if not r.registered)
    args = plan.verify_args()
    count_at = args.index("--expect-replicas")
    del args[count_at : count_at + 2]
    return [*args, "--expect-weights", f"{green}={green_weight},{blue}={100 - green_weight}", *VERIFY_QUICK]


@pytest.mark.parametrize(("shifted", "code"), [(10, 0), (20, 1)])
def test_verify_passes_a_real_10_percent_canary_and_catches_one_at_20(canary_split, shifted, code):
    canary_split.shift_to_green(shifted)
    run = run_verify([*weights_argv(canary_split, 10), "--requests", "6000"])
    assert run.code == code, run.stdout + run.stderr
    report = run.report
    green_ips = {r.ip for r in canary_split.plan.replicas if not r.registered}
    green = sum(count for ip, count in report["replicas"].items() if ip in green_ips)
    assert green / report["answers"] == pytest.approx(shifted / 100, abs=0.02)
    if code:
        assert "chi-square" in report["reason"]


def answered_by(plan: Plan, headers: dict[str, str]) -> set[str]:
    """The replicas that answered 20 requests to the first node."""
    replicas = set()
    for _ in range(20):
        connection = http.client.HTTPConnection(plan.zones[0].node_ip, plan.port, timeout=2)
        try:
            connection.request("GET", "/", headers=headers)
            response = connection.getresponse()
            replicas.add(json.loads(response.read())["replica"])
        finally:
            connection.close()
    return replicas


def test_the_test_rule_sends_only_requests_with_the_test_header_to_green(canary_split):
    plan = canary_split.plan
    green = {r.ip for r in plan.replicas if not r.registered}
    header, value = TEST_HEADER
    canary_split.shift_to_green(0)
    canary_split.shift_to_green(100, test=True)
    try:
        assert answered_by(plan, {header: value}) == green
        assert answered_by(plan, {}).isdisjoint(green), "production traffic stays on blue"
    finally:
        canary_split.shift_to_green(0, test=True)
    assert answered_by(plan, {header: value}).isdisjoint(green)


def rehearse(*args: str) -> subprocess.Popen:
    ports = Plan.from_settings(DEV).on_free_ports()
    argv = [sys.executable, "-m", "rehearsal", "--deploy", "--time-scale", TIME_SCALE, *args]
    argv += ["--port", str(ports.port), "--replica-port", str(ports.replicas[0].port), "--", *FLOW_VERIFY]
    return subprocess.Popen(argv, cwd=PROJECT_DIR, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(run: subprocess.Popen) -> tuple[int, dict, str]:
    out, err = run.communicate(timeout=120)
    return run.returncode, json.loads(out), err


def test_each_strategy_moves_every_request_to_green_and_loses_none():
    # Blue-green and linear at 1/100 (a bake of 3 s): none of their shares is measured, the canary's step is.
    scales = {"blue-green": "0.01", "linear:34": "0.01", "canary:10": TIME_SCALE}
    runs = {strategy: rehearse("--strategy", strategy, "--time-scale", scale) for strategy, scale in scales.items()}
    for strategy, run in runs.items():
        code, report, err = finish(run)
        assert code == 0, f"{strategy}: {report['reason']}\n{err}"
        assert report["errors"] == {} and report["verdict"] == "even", strategy
        assert sorted(report["replicas"]) == GREEN_IPS, "judged over green alone after the last change"
        assert f"{strategy} deploy took" in err and "green took every request, blue stopped" in err
        shifts = [line for line in err.splitlines() if "deploy: production shift" in line]
        assert len(shifts) == {"blue-green": 1, "linear:34": 3, "canary:10": 2}[strategy], shifts
        stages = ["scale up", "green healthy", "production shift 1", "bake:", "deregistered 3 blue replicas"]
        assert [err.index(stage) for stage in stages] == sorted(err.index(stage) for stage in stages), strategy
    (canary_step,) = [line for line in err.splitlines() if "green answered" in line]
    measured = float(canary_step.split("green answered ", 1)[1].split("%", 1)[0])
    assert 7 <= measured <= 13, canary_step  # set: 10 %, drawn per request on each node


def test_a_failing_green_revision_is_rolled_back_to_blue():
    runs = {
        failing: rehearse("--strategy", "canary:10", "--failing-revision", failing)
        for failing in ("5xx", "health-checks")
    }
    code, report, err = finish(runs["health-checks"])
    assert code == ExitCode.ROLLED_BACK, err
    assert "green never passed its health checks" in err and "exit 3 (rolled back)" in err
    assert report["errors"] == {}, "no production request reached green"
    assert sorted(report["replicas"]) == BLUE_IPS

    code, report, err = finish(runs["5xx"])
    assert code == ExitCode.ROLLED_BACK, err
    # Whichever decides first: with deploymentVerify (dev's default) the deploy hook fails the canary's first
    # step, about a second into it; the 5xx alarm alone: test_the_5xx_alarm_alone_decides_within_the_step.
    assert "ROLLED BACK: the deploy hook failed at PRODUCTION_TRAFFIC_SHIFT" in err or "the 5xx alarm fired" in err
    failed = sum(report["errors"].values())
    assert failed > 0 and all(kind.startswith("HTTP 500") for kind in report["errors"]), report["errors"]
    assert sorted(report["replicas"]) == BLUE_IPS, "back on blue after the rollback"


def test_the_5xx_alarm_alone_decides_within_the_step(tmp_path):
    """As on AWS, the alarm decides within the canary's step: the canary's 10 % of the requests until its first
    period ends, and the metric's delay and CloudWatch's evaluation after it (3.6 s here, 3 minutes on AWS)."""
    strategy = replace(deployment_strategy_of("canary:10", DEV), hook=False)
    plan = replace(Plan.from_settings(DEV), time_scale=float(TIME_SCALE)).with_green_slots("5xx").on_free_ports()
    path, said = tmp_path / "verify.json", io.StringIO()
    with Rehearsal(plan) as running, path.open("w") as verify_stdout:
        _, result = shift_while_verifying(
            running, strategy, verify_extra=FLOW_VERIFY, out=said, verify_stdout=verify_stdout
        )
    report = json.loads(path.read_text())
    assert result.rolled_back is not None and "the 5xx alarm fired: 1 period(s) of 1.2 s in a row breached" in (
        result.rolled_back
    ), said.getvalue()
    assert "2.4 s late" in result.rolled_back
    failed = sum(report["errors"].values())
    assert failed > 0 and all(kind.startswith("HTTP 500") for kind in report["errors"]), report["errors"]
    timing = RollbackAlarmTiming.of(AT_SCALE.stop_timing)
    decided_s = AT_SCALE.seconds(timing.seconds_to_fire(timing.target_5xx_datapoints)) + ALARM_POLL_S
    assert decided_s < AT_SCALE.seconds(DEV.deployment_strategy.step_bake_minutes * 60)
    assert failed < report["requests"] / report["elapsed_s"] * 0.1 * decided_s * 1.5, report["errors"]
    assert sorted(report["replicas"]) == BLUE_IPS, "back on blue after the rollback"


def test_a_green_replica_interrupted_by_spot_during_the_canary_s_bake_rolls_nothing_back():
    """The replica fails its checks while it serves (0.26 s here), stops, and is replaced: the unhealthy-hosts
    alarm needs 2 periods in a row judged by their Minimum, which the stop cannot give. The rehearsal's alarm
    before (any green replica down rolled back at once) rolled this deploy back (shown by hand, 2026-12-05)."""
    code, report, err = finish(rehearse("--strategy", "canary:10", "--interrupt", "1"))
    assert code == 0, err
    assert "Spot interruption: SIGTERM to green" in err and "no alarm fired" in err and "ROLLED BACK" not in err
    assert report["errors"] == {} and report["verdict"] == "even", report["reason"]
    replacement = Plan.from_settings(DEV).with_green_slots(spares=1).replicas[-1].ip
    assert replacement in report["replicas"], "the replacement serves in green's group"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--strategy", "canary:10"], "--strategy and --failing-revision go with --deploy"),
        (["--deploy", "--strategy", "canary:0.0"], "deploymentStrategy: 'canary:0.0' is out of range"),
        (["--deploy", "--strategy", "canary:5.55"], "deploymentStrategy: 'canary:5.55' is not allowed"),
        (["--deploy", "--failing-revision", "5xx"], "--failing-revision goes with a blue-green, linear or canary"),
        (["--deploy", "--strategy", "blue-green", "--no-drain"], "--no-drain goes with a rolling deploy"),
        (["--deploy", "--failing-revision", "slow"], "argument --failing-revision: invalid choice: 'slow'"),
        (["--deploy", "--strategy", "rolling", "--interrupt", "1"], "--deploy and --interrupt go together only for"),
    ],
)
def test_a_bad_strategy_argument_is_one_line_and_exit_2(argv, message):
    done = subprocess.run(
        [sys.executable, "-m", "rehearsal", *argv], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == ExitCode.CANNOT_RUN and message in done.stderr and len(done.stderr.splitlines()) == 1
