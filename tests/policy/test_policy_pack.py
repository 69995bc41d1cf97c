"""The CrossGuard adapter (`policy/__main__.py`) without a policy engine, and dev.json against the registry.

The policies are called the way the engine calls them: with props wrapped in pulumi_policy's
unknown-checking proxy, which raises on a value a preview cannot see yet.
"""

import importlib
import json
import os
import re
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_ARRAY_VALUE, UNKNOWN_BOOLEAN_VALUE, UNKNOWN_STRING_VALUE, unknown_checking_proxy

from policy.rules import ALL_RULES, UNKNOWN, ResourceRule
from tests.docs_text import DOCS, README, doc

pack = importlib.import_module("policy.__main__")

POLICY_DIR = Path(pack.__file__).parent
URN = "urn:pulumi:prod::alb-replicas::"


def options(parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def policy_named(name: str) -> Any:
    (policy,) = [p for p in pack.build_policies() if p.name == name]
    return policy


def validate_resource(policy_name: str, resource_type: str, props: dict[str, Any]) -> list[str]:
    """What a resource policy reports, called as the engine calls it."""
    reported: list[str] = []
    args = ResourceValidationArgs(
        resource_type, unknown_checking_proxy(props), f"{URN}{resource_type}::r", "r", options(), None
    )
    policy_named(policy_name).validate(args, lambda message, urn=None: reported.append(message))
    return reported


def test_one_mandatory_policy_per_rule_named_by_its_id() -> None:
    policies = pack.build_policies()
    assert [p.name for p in policies] == [rule.id for rule in ALL_RULES]
    assert len({p.name for p in policies}) == len(policies)
    for policy, rule in zip(policies, ALL_RULES, strict=True):
        assert policy.description.startswith(f"{rule.control}: ")
        assert policy.enforcement_level is EnforcementLevel.MANDATORY
        expected = ResourceValidationPolicy if isinstance(rule, ResourceRule) else StackValidationPolicy
        assert isinstance(policy, expected)


def test_a_resource_policy_reports_the_rules_messages() -> None:
    reported = validate_resource("elb-4-drop-invalid-headers", "aws:lb/loadBalancer:LoadBalancer", {})
    assert reported == [
        "ELB.4: dropInvalidHeaderFields is absent; set drop_invalid_header_fields=True (provider default False)"
    ]


def test_a_resource_policy_passes_what_a_preview_cannot_see() -> None:
    lb = "aws:lb/loadBalancer:LoadBalancer"
    assert validate_resource("elb-4-drop-invalid-headers", lb, {"dropInvalidHeaderFields": UNKNOWN_BOOLEAN_VALUE}) == []
    assert validate_resource("elb-13-multi-az", lb, {"subnets": UNKNOWN_ARRAY_VALUE}) == []
    assert validate_resource("elb-13-multi-az", lb, {"subnets": [UNKNOWN_STRING_VALUE, UNKNOWN_STRING_VALUE]}) == []
    # One unknown does not hide the known values beside it.
    assert validate_resource("elb-13-multi-az", lb, {"subnets": ["subnet-a"], "name": UNKNOWN_STRING_VALUE}) != []


def test_plain_turns_the_engines_proxies_into_data_with_unknown_markers() -> None:
    props = unknown_checking_proxy({"a": [1, UNKNOWN_STRING_VALUE, {"b": UNKNOWN_BOOLEAN_VALUE}], "c": "x"})
    assert pack.plain(props) == {"a": [1, UNKNOWN, {"b": UNKNOWN}], "c": "x"}


def policy_resource(
    resource_type: str, props: dict[str, Any], parent: PolicyResource | None = None, depends_on: list | None = None
) -> PolicyResource:
    """A resource as the engine hands it to a stack policy (props proxied, parent and dependencies as objects)."""
    parent_prefix = f"{parent.resource_type}$" if parent else ""
    urn = f"{URN}{parent_prefix}{resource_type}::net"
    parent_urn = parent.urn if parent else None
    dependencies = depends_on or []
    property_dependencies = {"vpcId": dependencies} if dependencies else {}
    return PolicyResource(
        resource_type,
        unknown_checking_proxy(props),
        urn,
        "net",
        options(parent_urn),
        None,
        parent,
        dependencies,
        property_dependencies,
    )


def test_a_stack_policy_sees_dependencies_parents_and_unknown_ids() -> None:
    component = policy_resource("awsx:ec2:Vpc", {"vpcId": UNKNOWN_STRING_VALUE})
    vpc = policy_resource("aws:ec2/vpc:Vpc", {"id": UNKNOWN_STRING_VALUE}, parent=component)
    flow_log = policy_resource(
        "aws:ec2/flowLog:FlowLog", {"vpcId": UNKNOWN_STRING_VALUE, "trafficType": "REJECT"}, depends_on=[vpc]
    )
    policy = policy_named("ec2-6-vpc-flow-logs")

    def run(resources: list[PolicyResource]) -> list[str]:
        reported: list[str] = []
        policy.validate(StackValidationArgs(resources), lambda message, urn=None: reported.append(message))
        return reported

    assert run([component, vpc, flow_log]) == []
    (message,) = run([component, vpc])
    assert message.startswith("EC2.6: VPC 'net'")


def dev_config() -> dict[str, Any]:
    return json.loads((POLICY_DIR / "dev.json").read_text())


def test_dev_json_disables_exactly_the_rules_dev_does_not_meet() -> None:
    disabled = {name for name, value in dev_config().items() if value == {"enforcementLevel": "disabled"}}
    assert disabled == set(dev_config()), "every entry of dev.json disables a rule"
    assert disabled == {rule.id for rule in ALL_RULES if not rule.applies_to_dev}


def test_dev_json_names_only_policies_of_the_pack() -> None:
    assert set(dev_config()) <= {p.name for p in pack.build_policies()}


@pytest.fixture
def engine_style_run():
    """Runs policy/ as `pulumi preview --policy-pack policy` does (runpy on the folder), without serving."""
    yield lambda: runpy.run_path(str(POLICY_DIR), run_name="policy_pack_probe")
    for name in [name for name in sys.modules if name == "rules" or name.startswith("rules.")]:
        sys.modules.pop(name)  # the engine imports the rules package by its bare name


def test_the_pack_loads_as_the_engine_runs_it(engine_style_run) -> None:
    namespace = engine_style_run()
    assert [p.name for p in namespace["build_policies"]()] == [rule.id for rule in ALL_RULES]
    assert namespace["PACK_NAME"] == pack.PACK_NAME


def test_pulumi_policy_yaml_runs_python_in_its_own_virtualenv() -> None:
    text = (POLICY_DIR / "PulumiPolicy.yaml").read_text()
    assert "name: python" in text and "virtualenv: venv" in text
    requirements = (POLICY_DIR / "requirements.txt").read_text()
    assert "pulumi-policy>=" in requirements and "pulumi>=" in requirements


def test_make_policy_venv_prepares_the_virtualenv_pulumi_policy_yaml_names() -> None:
    virtualenv = yaml.safe_load((POLICY_DIR / "PulumiPolicy.yaml").read_text())["runtime"]["options"]["virtualenv"]
    venv = (POLICY_DIR / virtualenv).relative_to(POLICY_DIR.parent)
    # -n prints the commands without running them, -B as if nothing were made yet; a clean environment
    # keeps the flags of a `make test` that runs this test out of it.
    make = ["make", "-n", "-B", "--no-print-directory", "policy-venv"]
    env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    run = subprocess.run(make, cwd=POLICY_DIR.parent, env=env, capture_output=True, text=True, check=True, timeout=30)
    create, install = run.stdout.splitlines()[:2]
    assert create.endswith(f" -m venv {venv}")
    assert install.startswith(f"{venv}/bin/python -m pip install ") and install.endswith(" -r policy/requirements.txt")
    for readme in (POLICY_DIR / "README.md", README, DOCS / "security-policy.md"):
        assert "make policy-venv" in readme.read_text(), readme


def requirement(path: Path, package: str) -> str:
    (line,) = [line for line in path.read_text().splitlines() if line.startswith(f"{package}>=")]
    return line.split("#")[0].strip()


def test_the_tests_run_the_pulumi_policy_versions_the_pack_asks_for():
    # 1.13 lacks opts.parent; 1.13 to 1.16 cannot be installed beside pulumi>=3.200.
    pack_range = requirement(POLICY_DIR / "requirements.txt", "pulumi-policy")
    assert (
        pack_range
        == requirement(POLICY_DIR.parent / "requirements-dev.txt", "pulumi-policy")
        == "pulumi-policy>=1.17,<2"
    )


def test_the_readme_table_lists_every_rule_with_its_control_and_stages() -> None:
    rows = {}
    for line in (POLICY_DIR / "README.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 5 and cells[2].startswith("`"):
            rows[cells[2].strip("`")] = cells
    assert set(rows) == {rule.id for rule in ALL_RULES}
    for rule in ALL_RULES:
        control, _, _, dev, prod = rows[rule.id]
        assert (control, dev, prod) == (rule.control, "✔" if rule.applies_to_dev else "off", "✔"), rule.id


def test_the_project_docs_table_names_every_rule_once_with_its_control_and_stages() -> None:
    section = doc("security-policy")
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 6:
            for rule_id in re.findall(r"`([a-z0-9-]+)`", cells[3]):
                assert rule_id not in rows, f"{rule_id} is in two rows"
                rows[rule_id] = cells
    assert set(rows) == {rule.id for rule in ALL_RULES}
    for rule in ALL_RULES:
        control, _, _, _, dev, prod = rows[rule.id]
        assert rule.control.replace(" ", "").lower() in control.replace(" ", "").lower(), rule.id
        assert (dev, prod) == ("✔" if rule.applies_to_dev else "off", "✔"), rule.id
