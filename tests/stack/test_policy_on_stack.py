"""The stacks this program declares pass the policy pack: prod every rule, dev the rules for dev.

The preview tests hand the pack what a first `pulumi preview` hands it: the program runs in preview mode
(every value computed from a resource not created yet is unknown), and pulumi_policy's own analyzer
servicer, the one the pack serves the engine with, gets each resource as an Analyze and AnalyzeStack
request built from the program's RegisterResource requests.
"""

import importlib
import json
from pathlib import Path

import pytest
from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2
from pulumi_policy import EnforcementLevel
from pulumi_policy.policy import _PolicyAnalyzerServicer
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

import components.service
from policy.rules import PlannedResource, evaluate
from tests.stack.harness import OWN_DOMAIN, Declared, Deployment, declare_stack

pack = importlib.import_module("policy.__main__")
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"


def planned(deployment: Deployment) -> list[PlannedResource]:
    # A program that failed declared only part of the stack: too few resources to break a rule.
    assert deployment.error is None, deployment.error
    return [
        PlannedResource(
            type=r.type,
            name=r.name,
            urn=r.urn,
            props=r.inputs,
            dependencies=frozenset(r.dependencies),
            parent=r.parent or None,
            id=f"{r.name}_id",
        )
        for r in deployment.resources
    ]


def test_prod_passes_every_rule():
    deployment = declare_stack("prod", **OWN_DOMAIN)
    assert deployment.error is None
    assert [str(v) for v in evaluate(planned(deployment))] == []


def test_a_stack_without_a_domain_fails_elb_1_under_every_rule():
    violations = evaluate(planned(declare_stack("dev")))
    assert any(v.message.startswith("ELB.1") for v in violations), [str(v) for v in violations]


def test_dev_passes_every_rule_that_applies_to_dev():
    assert [str(v) for v in evaluate(planned(declare_stack("dev")), dev=True)] == []


@pytest.mark.parametrize(
    ("overrides", "control"),
    [
        ({"accessLogs": False}, "ELB.5"),
        ({"deletionProtection": False}, "ELB.6"),
        ({"replicaAddressing": "ipv4", "natGateways": "none"}, "ECS.2"),
        ({"flowLogs": False}, "EC2.6"),
        ({"deregistrationDelaySeconds": 0}, "Good practice: deregistrationDelay is 0"),
    ],
)
def test_prod_without_a_guardrail_fails_its_control(overrides, control):
    violations = evaluate(planned(declare_stack("prod", **{**OWN_DOMAIN, **overrides})))
    assert any(v.message.startswith(control) for v in violations), [str(v) for v in violations]


def analyzer_resource(resource: Declared) -> analyzer_pb2.AnalyzerResource:
    return analyzer_pb2.AnalyzerResource(
        type=resource.type,
        properties=resource.properties,
        urn=resource.urn,
        name=resource.name,
        options=analyzer_pb2.AnalyzerResourceOptions(parent=resource.parent),
        parent=resource.parent,
        dependencies=resource.dependencies,
        propertyDependencies={
            key: analyzer_pb2.AnalyzerPropertyDependencies(urns=urns)
            for key, urns in resource.property_dependencies.items()
        },
    )


def reported_at_preview(deployment: Deployment, dev: bool = False) -> list[tuple[str, str]]:
    """(policy name, message) of every violation the pack reports, as the engine would call it in a preview."""
    assert deployment.error is None, deployment.error  # a failed preview declared too little to judge
    servicer = _PolicyAnalyzerServicer(pack.PACK_NAME, "0.1.0", pack.build_policies(), EnforcementLevel.MANDATORY)
    if dev:  # what `--policy-pack-config policy/dev.json` configures
        disabled = json.loads((Path(pack.__file__).parent / "dev.json").read_text())
        config = {name: analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.DISABLED) for name in disabled}
        servicer.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=config), None)
    resources = [analyzer_resource(r) for r in deployment.resources]
    responses = [
        servicer.Analyze(
            analyzer_pb2.AnalyzeRequest(
                type=r.type, properties=r.properties, urn=r.urn, name=r.name, options=r.options
            ),
            None,
        )
        for r in resources
    ]
    responses.append(servicer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=resources), None))
    return [(d.policyName, d.message) for response in responses for d in response.diagnostics]


@pytest.fixture(scope="module")
def prod_preview() -> Deployment:
    deployment = declare_stack("prod", preview=True, **OWN_DOMAIN)
    assert deployment.error is None, deployment.error
    return deployment


def engine_props(deployment: Deployment, type_: str) -> dict:
    """The engine's view of the first resource of `type_` (the access-log bucket's, of the two buckets')."""
    return json_format.MessageToDict(deployment.all(type_)[0].properties)


def test_a_first_preview_of_prod_shows_the_pack_the_container_definitions(prod_preview):
    task = engine_props(prod_preview, TASK_DEFINITION)
    assert task["executionRoleArn"] == UNKNOWN_STRING_VALUE, "not a preview: the role is not created yet"
    (container,) = json.loads(task["containerDefinitions"])
    assert container["readonlyRootFilesystem"] is True


def test_a_first_preview_of_prod_passes_every_policy(prod_preview):
    assert reported_at_preview(prod_preview) == []


def test_a_first_preview_of_dev_passes_every_policy_dev_runs():
    assert reported_at_preview(declare_stack("dev", preview=True), dev=True) == []


def test_a_first_preview_reports_a_container_with_a_writable_root_filesystem(monkeypatch):
    declared = components.service._container_definition

    def writable_root(*args, **kwargs) -> dict:
        return {**declared(*args, **kwargs), "readonlyRootFilesystem": False}

    monkeypatch.setattr(components.service, "_container_definition", writable_root)
    (violation,) = reported_at_preview(declare_stack("prod", preview=True, **OWN_DOMAIN))
    assert violation[0] == "ecs-5-read-only-root"
    assert "ECS.5: container 'replica' has \"readonlyRootFilesystem\": False" in violation[1]


# What each rule the policy README lists as blind in a first preview cannot see, and where.
BLIND_AT_PREVIEW = {
    "ecs-separate-task-role": (TASK_DEFINITION, ("executionRoleArn", "taskRoleArn")),
    "elb-13-multi-az": ("aws:lb/loadBalancer:LoadBalancer", ("subnets",)),
    "s3-5-deny-insecure-transport": ("aws:s3/bucketPolicy:BucketPolicy", ("policy",)),
}


def test_the_policy_readme_lists_the_rules_a_first_preview_leaves_blind(prod_preview):
    section = (Path(pack.__file__).parent / "README.md").read_text().split("## What a first preview cannot show")[1]
    listed = {line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
    assert listed == set(BLIND_AT_PREVIEW)
    for rule, (type_, keys) in BLIND_AT_PREVIEW.items():
        props = engine_props(prod_preview, type_)
        assert [props[key] for key in keys] == [UNKNOWN_STRING_VALUE] * len(keys), rule
