"""IAM rules: the stack's own managed policies (verify's) read, and write only Athena's query results."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from .core import UNKNOWN, PlannedResource, StackRule, as_list, label, value_at

IAM_POLICY: Final = "aws:iam/policy:Policy"
ATHENA_WORKGROUP: Final = "aws:athena/workgroup:Workgroup"
# A read, by the verb AWS's actions start with (Service Authorization Reference: access level List or Read).
READ_VERBS: Final = ("Describe", "Get", "List", "BatchGet")
# Running a query reads the data it names and writes only its results: allowed on a workgroup.
QUERY_ACTIONS: Final = frozenset({"athena:StartQueryExecution", "athena:StopQueryExecution"})
# What Athena writes to its results location with the caller's credentials.
RESULT_WRITES: Final = frozenset({"s3:PutObject", "s3:AbortMultipartUpload"})
_S3_OBJECTS = re.compile(r"^arn:[a-z-]+:s3:::([^/]+)/")
_WORKGROUP = re.compile(r"^arn:[a-z-]+:athena:[^:]+:[0-9]+:workgroup/[^*]+$")


def _results_buckets(resources: Sequence[PlannedResource]) -> set[str] | None:
    """The buckets the stack's Athena workgroups write their results to; None while a preview cannot see one."""
    buckets: set[str] = set()
    for workgroup in (r for r in resources if r.type == ATHENA_WORKGROUP):
        location = value_at(workgroup.props, "configuration.resultConfiguration.outputLocation")
        if not isinstance(location, str):
            return None
        buckets.add(location.removeprefix("s3://").split("/", 1)[0])
    return buckets


def _problems(statement: Mapping[str, Any], results_buckets: set[str]) -> list[str]:
    if "NotAction" in statement or "NotResource" in statement:
        return ["NotAction or NotResource (allows what it does not name)"]
    actions, resources = as_list(statement.get("Action")), as_list(statement.get("Resource"))
    if isinstance(statement.get("Action"), str):
        actions = [statement["Action"]]
    if isinstance(statement.get("Resource"), str):
        resources = [statement["Resource"]]
    if actions is UNKNOWN or resources is UNKNOWN:
        return []
    problems = []
    for action in actions:
        verb = str(action).split(":", 1)[-1]
        if "*" in str(action):
            problems.append(f"{action} (a wildcard grants writes too)")
        elif verb.startswith(READ_VERBS):
            continue
        elif action in QUERY_ACTIONS:
            if not all(isinstance(r, str) and _WORKGROUP.match(r) for r in resources):
                problems.append(f"{action} on {resources} (allowed on the stack's Athena workgroup only)")
        elif action in RESULT_WRITES:
            buckets = {match.group(1) for r in resources if isinstance(r, str) and (match := _S3_OBJECTS.match(r))}
            if len(buckets) != len(resources) or not buckets <= results_buckets:
                problems.append(f"{action} on {resources} (writes go to Athena's results bucket only)")
        else:
            problems.append(f"{action} (a write)")
    return problems


def _read_only(resources: Sequence[PlannedResource]) -> list[str]:
    results_buckets = _results_buckets(resources)
    messages = []
    for policy in (r for r in resources if r.type == IAM_POLICY):
        raw = value_at(policy.props, "policy")
        if not isinstance(raw, str) or results_buckets is None:
            continue  # a preview's unknown document or workgroup: judged once known
        try:
            statements = json.loads(raw).get("Statement", [])
        except (ValueError, AttributeError):
            messages.append(f"policy {label(policy)} is not a JSON policy document")
            continue
        for statement in statements if isinstance(statements, list) else [statements]:
            if isinstance(statement, Mapping) and statement.get("Effect") == "Allow":
                for problem in _problems(statement, results_buckets):
                    messages.append(
                        f"policy {label(policy)} allows {problem}; verify's policy reads (Describe, Get, List), "
                        "runs queries in the stack's workgroup and writes only the workgroup's results bucket"
                    )
    return messages


IAM_VERIFY_POLICY_READ_ONLY = StackRule(
    id="iam-verify-policy-read-only",
    control="Good practice",
    description="The stack's managed policy (verify's) reads, and writes only Athena's query results",
    applies_to_dev=True,
    check=_read_only,
)
