"""verify's IAM as code: the stack's managed policy holds exactly what verify calls on it in each mode, is
exported, and the policy pack keeps it reading, writing only Athena's results."""

import json

import pytest

from components.verify_access import LogsAccess, verify_policy_document
from policy.rules import ALL_RULES, PlannedResource, StackRule
from tests.stack.harness import ACCOUNT_ID, REGION, Deployment

POLICY = "aws:iam/policy:Policy"
RULE = next(rule for rule in ALL_RULES if isinstance(rule, StackRule) and rule.id == "iam-verify-policy-read-only")


def document(deployment: Deployment) -> dict:
    return json.loads(deployment.one(POLICY).inputs["policy"])


def test_without_access_logs_verify_reads_target_health_only(dev):
    assert document(dev) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TargetHealth",
                "Effect": "Allow",
                # DescribeRules: a shifting stack's production rule, the group(s) it forwards to now.
                "Action": ["elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeRules"],
                "Resource": "*",
            }
        ],
    }
    assert dev.exports["verify_policy_arn"].endswith(f"/{dev.one(POLICY).name}")


def test_with_access_logs_verify_reads_them_from_s3_and_athena_and_athena_writes_only_its_results(prod):
    statements = {s["Sid"]: s for s in document(prod)["Statement"]}
    logs_bucket = prod.exports["access_logs_location"].split("/")[2]
    prefix = prod.exports["access_logs_location"].split(f"s3://{logs_bucket}/", 1)[1].rstrip("/")
    assert prefix == f"alb/AWSLogs/{ACCOUNT_ID}/elasticloadbalancing/{REGION}"
    assert statements["ListTheLogs"]["Resource"] == f"arn:aws:s3:::{logs_bucket}"
    assert statements["ListTheLogs"]["Condition"] == {"StringLike": {"s3:prefix": [f"{prefix}/*", prefix]}}
    assert statements["ReadTheLogs"] == {
        "Sid": "ReadTheLogs",
        "Effect": "Allow",
        "Action": ["s3:GetObject"],
        "Resource": f"arn:aws:s3:::{logs_bucket}/{prefix}/*",
    }
    workgroup, database, table = (prod.exports[key] for key in ("athena_workgroup", "athena_database", "athena_table"))
    assert statements["QueryInTheWorkgroup"]["Resource"] == (
        f"arn:aws:athena:{REGION}:{ACCOUNT_ID}:workgroup/{workgroup}"
    )
    glue = f"arn:aws:glue:{REGION}:{ACCOUNT_ID}:"
    assert statements["ReadTheTable"]["Resource"] == [
        f"{glue}catalog",
        f"{glue}database/{database}",
        f"{glue}table/{database}/{table}",
    ]
    results = prod.one("aws:athena/workgroup:Workgroup").inputs["configuration"]["resultConfiguration"]
    results_bucket = results["outputLocation"].removeprefix("s3://").rstrip("/")
    writes = [(s["Sid"], a) for s in statements.values() for a in s["Action"] if a.split(":")[1].startswith("Put")]
    assert writes == [("AthenaResults", "s3:PutObject")]
    assert statements["AthenaResults"]["Resource"] == f"arn:aws:s3:::{results_bucket}/*"


def test_the_stack_s_policy_passes_the_pack_s_rule(prod, dev):
    for deployment in (prod, dev):
        resources = [
            PlannedResource(type=r.type, name=r.name, urn=r.urn, props=r.inputs, id=f"{r.name}_id")
            for r in deployment.resources
        ]
        assert RULE(resources) == []


LOGS = LogsAccess("logs", "alb/AWSLogs/1/elasticloadbalancing/r/", "wg", "db", "access_logs", "results")
WORKGROUP = PlannedResource(
    type="aws:athena/workgroup:Workgroup",
    name="wg",
    urn="urn:wg",
    props={"configuration": {"resultConfiguration": {"outputLocation": "s3://results/"}}},
)


def with_statement(statement: dict) -> list[PlannedResource]:
    policy = verify_policy_document("aws", "r", "1", LOGS)
    policy["Statement"].append({"Effect": "Allow", **statement})
    return [PlannedResource(type=POLICY, name="p", urn="urn:p", props={"policy": json.dumps(policy)}), WORKGROUP]


@pytest.mark.parametrize(
    ("statement", "named"),
    [
        ({"Action": "s3:PutObject", "Resource": "arn:aws:s3:::logs/alb/*"}, "s3:PutObject on ['arn:aws:s3:::logs"),
        ({"Action": "s3:*", "Resource": "arn:aws:s3:::results/*"}, "s3:* (a wildcard grants writes too)"),
        ({"Action": "athena:StartQueryExecution", "Resource": "*"}, "athena:StartQueryExecution on ['*']"),
        ({"Action": ["iam:PassRole"], "Resource": "*"}, "iam:PassRole (a write)"),
        ({"Action": "glue:UpdateTable", "Resource": "*"}, "glue:UpdateTable (a write)"),
        ({"NotAction": "s3:GetObject", "Resource": "*"}, "NotAction or NotResource"),
    ],
)
def test_the_rule_refuses_a_write_beyond_athena_s_results(statement, named):
    messages = RULE(with_statement(statement))
    assert len(messages) == 1 and named in messages[0], messages
    assert "writes only the workgroup's results bucket" in messages[0]


def test_the_rule_takes_the_policy_verify_needs_and_judges_a_preview_s_unknown_document_once_known():
    assert RULE(with_statement({"Action": "s3:GetObject", "Resource": "*"})) == []
    unknown = PlannedResource(type=POLICY, name="p", urn="urn:p", props={"policy": object()})
    assert RULE([unknown, WORKGROUP]) == []
