"""The CrossGuard policy pack: every rule of `rules.ALL_RULES` as a mandatory Pulumi policy.

    pulumi preview --policy-pack policy                                        # prod: every rule
    pulumi preview --policy-pack policy --policy-pack-config policy/dev.json   # dev: a few rules off

Everything but the `PolicyPack(...)` call works outside the policy engine, so the tests build the policies
and call them directly: `PolicyPack` starts the engine's gRPC server and never returns.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyPack,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

if __package__:  # imported as `policy.__main__` (the tests)
    from .rules import ALL_RULES, UNKNOWN, PlannedResource, ResourceRule, Rule
else:  # run by the policy engine (`runpy.run_path` on this folder, which it puts on sys.path)
    from rules import ALL_RULES, UNKNOWN, PlannedResource, ResourceRule, Rule

PACK_NAME = "alb-replicas-fsbp"


def plain(value: Any) -> Any:
    """The engine's props as plain dicts and lists, with `UNKNOWN` where a preview cannot see a value.

    The engine wraps props in proxies that raise `UnknownValueError` on an unknown value, which would
    stop a whole rule; the rules instead pass what they cannot see, value by value.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return {key: _item(value, key) for key in value}
    if isinstance(value, Sequence):
        return [_item(value, index) for index in range(len(value))]
    return value


def _item(container: Any, key: Any) -> Any:
    try:
        return plain(container[key])
    except UnknownValueError:
        return UNKNOWN


def planned_resource(resource: PolicyResource) -> PlannedResource:
    return PlannedResource(
        type=resource.resource_type,
        name=resource.name,
        urn=resource.urn,
        props=plain(resource.props),
        dependencies=frozenset(d.urn for d in resource.dependencies),
        property_dependencies={k: frozenset(d.urn for d in v) for k, v in resource.property_dependencies.items()},
        parent=resource.parent.urn if resource.parent is not None else resource.opts.parent,
    )


def violations(rule: Rule, args: ResourceValidationArgs | StackValidationArgs) -> list[str]:
    """The rule's messages for what the engine hands a resource policy or a stack policy."""
    if isinstance(rule, ResourceRule):
        return rule(args.resource_type, plain(args.props))
    return rule([planned_resource(r) for r in args.resources])


def to_policy(rule: Rule) -> Policy:
    """One rule as a mandatory policy named by the rule's id; its description starts with the control id."""

    def validate(args: Any, report_violation: ReportViolation) -> None:
        for message in violations(rule, args):
            report_violation(message, None)

    policy_class = ResourceValidationPolicy if isinstance(rule, ResourceRule) else StackValidationPolicy
    return policy_class(
        name=rule.id,
        description=f"{rule.control}: {rule.description}.",
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY,
    )


def build_policies() -> list[Policy]:
    return [to_policy(rule) for rule in ALL_RULES]


if __name__ == "__main__":
    PolicyPack(name=PACK_NAME, policies=build_policies(), enforcement_level=EnforcementLevel.MANDATORY)
