"""The stack's guardrails as plain functions: each rule enforces one AWS FSBP control (or a named good practice).

Two kinds of rule, both free of `pulumi_policy` so the program's unit tests can run them on mocked resources:

- `ResourceRule`: called as `rule(resource_type, props) -> list[str]`, one resource at a time;
- `StackRule`: called as `rule(resources) -> list[str]`, on every `PlannedResource` of the stack, for
  relations between resources (a bucket and its public access block, a VPC and its flow log).

The rules are grouped by service, one module each (`elb`, `ecs`, `ec2`, `s3`, `acm`, `cloudwatch`, `iam`), and
each is declared with its id, control, description and whether dev runs it right below its check: a
module-level `ResourceRule(...)` or `StackRule(...)`, which `ALL_RULES` collects in the order declared.
Type tokens are checked against pulumi-aws 7 (`super().__init__('aws:...')` in each resource module);
the aws:alb/* tokens are pulumi-aws' aliases of aws:lb/*, the S3 *V2 tokens deprecated twins.

`props` use the Pulumi schema's camelCase names. A value a preview cannot see yet (computed from another
resource's output) is `UNKNOWN`: a rule passes it, unless its absence is itself the violation.
Every message starts with the control id and says what is wrong, the value, and what to set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Final

from . import acm, cloudwatch, ec2, ecs, elb, iam, s3
from .core import UNKNOWN, PlannedResource, ResourceRule, Rule, StackRule, Unknown
from .elb import RECOMMENDED_TLS_POLICY

__all__ = [
    "ALL_RULES",
    "RECOMMENDED_TLS_POLICY",
    "UNKNOWN",
    "PlannedResource",
    "ResourceRule",
    "Rule",
    "StackRule",
    "Unknown",
    "Violation",
    "evaluate",
]


def _declared_in(module: ModuleType) -> list[Rule]:
    return [value for value in vars(module).values() if isinstance(value, (ResourceRule, StackRule))]


ALL_RULES: Final[tuple[Rule, ...]] = tuple(
    rule for module in (elb, ecs, ec2, s3, acm, cloudwatch, iam) for rule in _declared_in(module)
)


@dataclass(frozen=True)
class Violation:
    rule_id: str
    urn: str | None  # None for a stack rule: its message names the resources
    message: str

    def __str__(self) -> str:
        return f"[{self.rule_id}] {self.urn + ': ' if self.urn else ''}{self.message}"


def evaluate(resources: Sequence[PlannedResource], *, dev: bool = False) -> list[Violation]:
    """Every rule over a stack's resources, as `pulumi preview --policy-pack policy` would run them
    (with `--policy-pack-config policy/dev.json` when `dev`)."""
    rules = [rule for rule in ALL_RULES if rule.applies_to_dev or not dev]
    violations = []
    for rule in rules:
        if isinstance(rule, StackRule):
            violations += [Violation(rule.id, None, message) for message in rule(resources)]
            continue
        for resource in resources:
            violations += [Violation(rule.id, resource.urn, m) for m in rule(resource.type, resource.props)]
    return violations
