"""The stack-output contract end to end: what __main__.py exports, read by verify as `pulumi stack output --json`
would print it."""

import json
import re
import subprocess

import pytest

from tests.docs_text import doc
from tests.docs_text import section as section_of
from tests.stack.harness import OWN_DOMAIN, declare_stack
from verify.sources.stack import AccessLogOutputs, StackOutputs, read_stack_outputs


def pulumi_printing(outputs: dict[str, object]):
    """`pulumi stack output --json` for a stack with these outputs: the exports as JSON."""

    def run(command: list[str], **_options: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 0, json.dumps(outputs, indent=2), "")

    return run


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        (
            "dev",
            StackOutputs(
                url="http://alb-replicas-dev-alb-1234567890.us-east-1.elb.amazonaws.com",
                replicas=3,
                max_replicas=3,
                algorithm="round_robin",
                subnets=(("2600:1f18:4c2:a610::/64", "us-east-1a"), ("2600:1f18:4c2:a611::/64", "us-east-1b")),
                target_group_arn="arn:aws:mock:us-east-1:123456789012:targetgroup/alb-replicas-dev-tg",
            ),
        ),
        (
            "prod",
            StackOutputs(
                url="https://app.mycompany.com",
                replicas=3,
                max_replicas=9,
                algorithm="round_robin",
                subnets=(
                    ("2600:1f18:4c2:a610::/64", "us-east-1a"),
                    ("2600:1f18:4c2:a611::/64", "us-east-1b"),
                    ("2600:1f18:4c2:a612::/64", "us-east-1c"),
                ),
                target_group_arn="arn:aws:mock:us-east-1:123456789012:targetgroup/alb-replicas-prod-tg",
                access_logs=AccessLogOutputs(
                    location="s3://alb-replicas-prod-access-logs-bucket/alb/AWSLogs/123456789012/elasticloadbalancing/us-east-1/",
                    region="us-east-1",
                    athena_database="alb_replicas_prod_alb_logs",
                    athena_table="access_logs",
                    athena_workgroup="alb-replicas-prod-access-logs",
                ),
            ),
        ),
    ],
)
def test_verify_reads_what_the_program_exports(stack: str, expected: StackOutputs, request: pytest.FixtureRequest):
    deployment = request.getfixturevalue(stack)  # __main__.py run under the mocks with Pulumi.<stack>.yaml
    assert read_stack_outputs(stack, run=pulumi_printing(deployment.exports)) == expected


def test_the_docs_outputs_table_lists_every_export_and_every_key_of_the_two_estimates(prod):
    section = section_of(doc("configuration"), "Outputs")
    rows = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            names, meaning = line[2:].split(" | ", 1)
            rows.update(dict.fromkeys(re.findall(r"`(\w+)`", names), meaning))
    # A shifting deploy adds the deploy hook's outputs (deploymentVerify, on by default).
    shifting = declare_stack("prod", deploymentStrategy="canary:10", **OWN_DOMAIN)
    assert set(rows) == set(prod.exports) | set(shifting.exports)
    for output in ("estimated_monthly_cost", "deploy_timing"):
        keys = set(re.findall(r"`(\w+)`", rows[output]))
        assert set(prod.exports[output]) <= keys, (
            f"docs/configuration.md's {output} row lacks {set(prod.exports[output]) - keys}"
        )


def test_a_shifting_stack_names_its_production_rule_where_verify_reads_target_health():
    canary = declare_stack("dev", deploymentStrategy="canary:10")
    outputs = read_stack_outputs("dev", run=pulumi_printing(canary.exports))
    rule = canary.one("aws:lb/listenerRule:ListenerRule", "alb-replicas-dev-production")
    assert outputs.production_rule_arn == rule.outputs["arn"] == canary.exports["production_listener_rule_arn"]
