"""Each default is decided once, in Pulumi.yaml. A component's Args that has a default of its own for
an option the stack sets holds the same value, so a component used alone behaves like a stack that sets
nothing; a stack file sets only what differs from Pulumi.yaml."""

import dataclasses
from pathlib import Path

import pytest

import settings
import stack_config
from components.access_log_bucket import AccessLogBucketArgs
from components.autoscaling import ServiceAutoscalingArgs
from components.load_balancer import LoadBalancerArgs
from components.network import NetworkArgs
from components.service import Container, ReplicaServiceArgs

ARGS_CLASSES = (
    NetworkArgs,
    LoadBalancerArgs,
    Container,
    ReplicaServiceArgs,
    AccessLogBucketArgs,
    ServiceAutoscalingArgs,
)
# Where __main__ passes a setting to an argument of another name (None: an argument no setting feeds as
# it is, though a setting shares its name); the others share the setting's name.
SETTING_OF_ARGUMENT: dict[tuple[type, str], str | None] = {
    (LoadBalancerArgs, "access_logs"): None,  # the bucket, built when the setting is true
    (NetworkArgs, "cidr_block"): "vpc_cidr",
    (Container, "user"): "container_user",
    (AccessLogBucketArgs, "retention_days"): "access_log_retention_days",
}
STACK_DEFAULTS = settings.parse_settings({}, project="alb-replicas", stack="defaults")
SETTINGS_FIELDS = {field.name for field in dataclasses.fields(settings.StackSettings)} | {"health_check"}


def defaulted_arguments() -> list[tuple[type, str, object, str]]:
    """(Args class, argument, its default, the setting __main__ passes it) for every defaulted argument
    a setting feeds."""
    found = []
    for args_class in ARGS_CLASSES:
        for field in dataclasses.fields(args_class):
            setting = SETTING_OF_ARGUMENT.get((args_class, field.name), field.name)
            if field.default is not dataclasses.MISSING and setting is not None and setting in SETTINGS_FIELDS:
                found.append((args_class, field.name, field.default, setting))
    return found


def test_every_args_default_for_a_stack_setting_is_pulumi_yamls():
    differ = [
        f"{args_class.__name__}.{argument} = {default!r}, Pulumi.yaml gives {getattr(STACK_DEFAULTS, setting)!r}"
        for args_class, argument, default, setting in defaulted_arguments()
        if default != getattr(STACK_DEFAULTS, setting)
    ]
    assert differ == []


def test_the_defaults_compared_cover_the_options_the_components_share_with_the_stack():
    compared = {setting for *_, setting in defaulted_arguments()}
    assert compared >= {
        "az_count", "vpc_cidr", "nat_gateways", "flow_logs", "log_retention_days", "health_check", "algorithm",
        "deregistration_delay_seconds", "deletion_protection", "health_check_path", "container_user", "replicas",
        "cpu", "memory", "health_check_grace_period_seconds", "container_insights", "capacity", "cpu_architecture",
        "access_log_retention_days", "requests_per_target", "cpu_target_percent",
    }  # fmt: skip


@pytest.mark.parametrize("path", sorted(stack_config.PROJECT_DIR.glob("Pulumi.*.yaml")), ids=lambda path: path.name)
def test_a_stack_file_sets_only_what_differs_from_pulumi_yamls_defaults(path: Path):
    given = stack_config.stack_file_values(path.name.split(".")[1])
    defaults, handed = (
        stack_config.cli_config("test", {}),
        stack_config.cli_config("test", given),
    )  # as the CLI hands them over
    assert sorted(key for key in given if handed[key] == defaults[key]) == [], f"{path.name} restates defaults"
