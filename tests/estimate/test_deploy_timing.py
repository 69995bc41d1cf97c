"""estimate.deploy_timing: what `pulumi up` waits for, from the settings and the stated model."""

from dataclasses import replace

from components.options import (
    DEPLOYMENT_MAXIMUM_PERCENT,
    GRACEFUL_STOP_SECONDS,
    NODE_LAG_SECONDS,
    TASK_START_SECONDS,
    DeploymentStrategy,
)
from estimate.cost import extra_replica_hour
from estimate.deploy_timing import deploy_timing
from settings import from_stack_file

DEV = from_stack_file("dev")


def test_dev_new_replica_is_healthy_after_interval_times_threshold():
    timing = deploy_timing(DEV, maximum_percent=DEPLOYMENT_MAXIMUM_PERCENT)
    assert timing["seconds_to_healthy"] == 5 * 2
    assert (timing["drain_seconds"], timing["grace_seconds"]) == (5, 30)


def test_an_old_replica_fails_its_checks_until_every_node_stopped_sending_then_stops_gracefully():
    timing = deploy_timing(DEV, maximum_percent=200)
    assert timing["stop_delay_seconds"] == 2 * 5 + NODE_LAG_SECONDS  # unhealthy threshold x interval + node lag
    assert timing["stop_timeout_seconds"] == timing["stop_delay_seconds"] + GRACEFUL_STOP_SECONDS == 43


def test_one_replica_waits_for_start_the_longer_of_health_and_grace_then_drain_and_stop():
    stop_timeout = 43
    timing = deploy_timing(DEV, maximum_percent=200)
    assert timing["worst_case_one_replica_seconds"] == TASK_START_SECONDS + 30 + 5 + stop_timeout
    slow_checks = replace(
        DEV, health_check_interval_seconds=30, healthy_threshold=5, health_check_grace_period_seconds=0
    )
    assert deploy_timing(slow_checks, maximum_percent=200)["worst_case_one_replica_seconds"] == (
        TASK_START_SECONDS + 150 + 5 + 2 * 30 + NODE_LAG_SECONDS + GRACEFUL_STOP_SECONDS
    ), "AWS's default checks: 150 s to healthy, 60 s to unhealthy"


def test_at_200_percent_every_new_task_starts_at_once():
    timing = deploy_timing(replace(DEV, replicas=40), maximum_percent=200)
    assert timing["rolling_deploy_batches"] == 1
    assert timing["worst_case_rolling_deploy_seconds"] == timing["worst_case_one_replica_seconds"]


def test_less_room_means_batches_one_after_another():
    assert deploy_timing(replace(DEV, replicas=4), maximum_percent=150)["rolling_deploy_batches"] == 2
    three_by_one = deploy_timing(replace(DEV, replicas=3), maximum_percent=120)
    assert three_by_one["rolling_deploy_batches"] == 3, "room for less than one task still starts one"
    assert three_by_one["worst_case_rolling_deploy_seconds"] == 3 * three_by_one["worst_case_one_replica_seconds"]
    assert "3 batch(es) of up to 1 new tasks (maximum 120 %)" in three_by_one["model"]


def shifting(**strategy: object):
    return replace(DEV, deployment_strategy=DeploymentStrategy(**strategy))


def test_each_strategy_s_last_shift_follows_the_scale_up_and_the_step_bake_times():
    stack = shifting(kind="linear", percent=25.0, bake_minutes=5, step_bake_minutes=2)
    timing = deploy_timing(stack, maximum_percent=200)
    scale_up = TASK_START_SECONDS + max(10, 30)
    retire = 5 + DEV.stop_timing.timeout_seconds
    assert timing["strategy"] == "linear:25"
    linear = timing["by_strategy"]["linear:25"]
    assert linear["production_shifts_percent"] == [25.0, 50.0, 75.0, 100.0]
    assert linear["seconds_to_last_shift"] == scale_up + 3 * 2 * 60, "three step bakes between four shifts"
    assert linear["seconds_both_revisions_run"] == linear["seconds_to_last_shift"] + 5 * 60 + retire
    assert timing["by_strategy"]["blue-green"]["seconds_to_last_shift"] == scale_up
    assert timing["by_strategy"]["canary:10"]["seconds_to_last_shift"] == scale_up + 2 * 60, "one canary bake"
    rolling = timing["by_strategy"]["rolling"]
    assert rolling["seconds_both_revisions_run"] == timing["worst_case_rolling_deploy_seconds"]


def test_both_revisions_cost_the_replicas_extra_hour_for_the_overlap():
    timing = deploy_timing(shifting(kind="blue-green", bake_minutes=60), maximum_percent=200)
    blue_green = timing["by_strategy"]["blue-green"]
    hours = blue_green["seconds_both_revisions_run"] / 3600
    assert blue_green["both_revisions_usd"] == round(DEV.replicas * extra_replica_hour(DEV) * hours, 4)
    assert blue_green["both_revisions_usd"] > timing["by_strategy"]["rolling"]["both_revisions_usd"]
