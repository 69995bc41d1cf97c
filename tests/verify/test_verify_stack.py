"""Reading the stack's outputs through `pulumi stack output --json`, with the CLI faked."""

from __future__ import annotations

import json
import subprocess

import pytest

from verify.core.errors import CouldNotMeasure
from verify.sources.stack import StackOutputs, read_stack_outputs

DEV_OUTPUTS = {
    "url": "http://alb-replicas-dev-alb-1234567.us-east-1.elb.amazonaws.com/",
    "replicas": 3,
    "max_replicas": 3,
    "algorithm": "round_robin",
    "replica_subnets": {"10.0.0.0/24": "us-east-1a", "10.0.1.0/24": "us-east-1b"},
    "cluster": "ignored",
}


def pulumi_answering(stdout: str = "", returncode: int = 0, stderr: str = ""):
    calls: list[list[str]] = []

    def run(command: list[str], **_options: object) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        return subprocess.CompletedProcess(command, returncode, stdout, stderr)

    run.calls = calls  # type: ignore[attr-defined]
    return run


def test_outputs_are_read_and_typed() -> None:
    run = pulumi_answering(json.dumps(DEV_OUTPUTS))
    outputs = read_stack_outputs("dev", run=run)
    assert run.calls == [["pulumi", "stack", "output", "--json", "--stack", "dev"]]
    assert outputs == StackOutputs(
        url=DEV_OUTPUTS["url"],
        replicas=3,
        max_replicas=3,
        algorithm="round_robin",
        subnets=(("10.0.0.0/24", "us-east-1a"), ("10.0.1.0/24", "us-east-1b")),
    )


def test_current_stack_and_numbers_as_text() -> None:
    run = pulumi_answering(json.dumps({"url": "https://app.example.com", "replicas": "3", "max_replicas": 9.0}))
    outputs = read_stack_outputs(run=run)
    assert run.calls == [["pulumi", "stack", "output", "--json"]]
    assert (outputs.replicas, outputs.max_replicas, outputs.algorithm, outputs.subnets) == (3, 9, None, ())


def test_missing_pulumi_cli_says_to_give_the_url() -> None:
    def missing(command: list[str], **_options: object) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(command[0])

    with pytest.raises(CouldNotMeasure, match=r"the pulumi CLI is not installed .* give the URL"):
        read_stack_outputs(run=missing)


@pytest.mark.parametrize(
    ("run", "message"),
    [
        (pulumi_answering("{}"), r"the current stack has no outputs: run pulumi up first"),
        (
            pulumi_answering(returncode=255, stderr="error: no stack named 'qa' found\n"),
            r"pulumi stack output failed for stack qa: error: no stack named 'qa' found",
        ),
        (pulumi_answering("warning: not json"), r"not JSON"),
        (pulumi_answering(json.dumps({"replicas": 3})), r"has no 'url' output \(outputs: replicas\)"),
        (
            pulumi_answering(json.dumps({"url": "http://x/", "replicas": "three"})),
            r"'replicas' output must be a whole number",
        ),
        (
            pulumi_answering(json.dumps({"url": "http://x/", "replica_subnets": ["10.0.0.0/24"]})),
            r"must map CIDR to zone",
        ),
    ],
)
def test_unusable_outputs_are_could_not_measure(run, message: str) -> None:
    stack = "qa" if "qa" in message else None
    with pytest.raises(CouldNotMeasure, match=message):
        read_stack_outputs(stack, run=run)
