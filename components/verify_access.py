"""Verify's access: one customer-managed IAM policy with exactly what `python -m verify` calls on this stack,
in each mode it can run against it, for the role or user that runs verify (a CI job's) to attach."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

# What `verify --target-health aws` calls (verify/sources/live/health.py): elasticloadbalancing's reads, which
# take no resource ARN (Service Authorization Reference, Elastic Load Balancing V2: DescribeTargetHealth,
# DescribeRules, DescribeListeners have no resource types, so "*").
TARGET_HEALTH_ACTIONS = ("elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:DescribeRules")
# What `verify --access-logs s3://...` calls (verify/sources/logs/athena.py, read_s3_logs): ListObjectsV2 under
# the logs' prefix, GetObject of each file. Athena reads the same with the caller's credentials, and finds the
# bucket's region first (Athena user guide, "Control access to Amazon S3 from Athena": s3:GetBucketLocation).
LOG_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket")
LOG_OBJECT_ACTIONS = ("s3:GetObject",)
# What `verify --engine athena` calls (read_athena_logs): a query in the stack's workgroup, its state and
# results, its stop at the deadline; the workgroup read as Athena's own example policy for running queries in a
# workgroup grants it (Athena user guide, "Example workgroup policies").
WORKGROUP_ACTIONS = (
    "athena:GetWorkGroup",
    "athena:StartQueryExecution",
    "athena:GetQueryExecution",
    "athena:GetQueryResults",
    "athena:StopQueryExecution",
)
# Athena reads the table's definition from Glue with the caller's credentials, on the catalog, the database and
# the table (Athena user guide, "Configure access to databases and tables in the AWS Glue Data Catalog": an
# action on a table needs it on its ancestors too); GetPartitions for a partitioned table, although partition
# projection computes the table's days without them.
GLUE_ACTIONS = ("glue:GetDatabase", "glue:GetTable", "glue:GetPartitions")
# Athena writes a query's results to the workgroup's output location, and reads them back, with the caller's
# credentials (Athena user guide, "Control access to Amazon S3 from Athena", the query results location).
RESULTS_BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")
RESULTS_OBJECT_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts")


@dataclass(frozen=True)
class LogsAccess:
    """Where verify reads the access logs: the bucket and key prefix the ALB writes under, and the Athena
    workgroup, Glue database and table, and query results bucket over them."""

    bucket: str
    logs_prefix: str
    """`<prefix>/AWSLogs/<account>/elasticloadbalancing/<region>/`: the location every log file lies under."""
    workgroup: str
    database: str
    table: str
    results_bucket: str


def verify_policy_document(partition: str, region: str, account: str, logs: LogsAccess | None) -> dict:
    """The policy: target health everywhere; with access logs, the logs read from S3 and through Athena, and
    Athena's results written to the stack's own results bucket, nothing else written."""
    statements: list[dict] = [
        {"Sid": "TargetHealth", "Effect": "Allow", "Action": list(TARGET_HEALTH_ACTIONS), "Resource": "*"}
    ]
    if logs is not None:
        s3 = f"arn:{partition}:s3:::"
        prefix = logs.logs_prefix.strip("/")
        glue = f"arn:{partition}:glue:{region}:{account}:"
        statements += [
            {
                "Sid": "ListTheLogs",
                "Effect": "Allow",
                "Action": list(LOG_BUCKET_ACTIONS),
                "Resource": f"{s3}{logs.bucket}",
                # ListBucket on the logs' prefix only; GetBucketLocation takes no prefix and ignores the condition.
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}/*", prefix]}},
            },
            {
                "Sid": "ReadTheLogs",
                "Effect": "Allow",
                "Action": list(LOG_OBJECT_ACTIONS),
                "Resource": f"{s3}{logs.bucket}/{prefix}/*",
            },
            {
                "Sid": "QueryInTheWorkgroup",
                "Effect": "Allow",
                "Action": list(WORKGROUP_ACTIONS),
                "Resource": f"arn:{partition}:athena:{region}:{account}:workgroup/{logs.workgroup}",
            },
            {
                "Sid": "ReadTheTable",
                "Effect": "Allow",
                "Action": list(GLUE_ACTIONS),
                "Resource": [
                    f"{glue}catalog",
                    f"{glue}database/{logs.database}",
                    f"{glue}table/{logs.database}/{logs.table}",
                ],
            },
            {
                "Sid": "AthenaResultsBucket",
                "Effect": "Allow",
                "Action": list(RESULTS_BUCKET_ACTIONS),
                "Resource": f"{s3}{logs.results_bucket}",
            },
            {
                "Sid": "AthenaResults",
                "Effect": "Allow",
                "Action": list(RESULTS_OBJECT_ACTIONS),
                "Resource": f"{s3}{logs.results_bucket}/*",
            },
        ]
    return {"Version": "2012-10-17", "Statement": statements}


@dataclass(frozen=True)
class VerifyAccessArgs:
    logs_bucket: pulumi.Input[str] | None = None
    """The access logs' bucket. @default None: no access logs, target health only."""
    logs_location: pulumi.Input[str] | None = None
    """`s3://<bucket>/<prefix>/AWSLogs/<account>/elasticloadbalancing/<region>/` (AccessLogTable.logs_location)."""
    workgroup: pulumi.Input[str] | None = None
    database: pulumi.Input[str] | None = None
    table: pulumi.Input[str] | None = None
    results_bucket: pulumi.Input[str] | None = None
    """The Athena workgroup, Glue database and table, and results bucket over the logs (AccessLogTable)."""


class VerifyAccess(pulumi.ComponentResource):
    """The IAM policy verify needs on this stack (`verify_policy_document`), exported by the program as
    `verify_policy_arn`. Nothing is attached: the principal that runs verify is the user's (a CI role).

    Exposes `policy`.
    """

    policy: aws.iam.Policy

    def __init__(self, name: str, args: VerifyAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("alb-replicas:verify_access:VerifyAccess", name, None, opts)
        invoke_opts = pulumi.InvokeOutputOptions(parent=self)
        partition = aws.get_partition_output(opts=invoke_opts).partition
        region = aws.get_region_output(opts=invoke_opts).region
        account = aws.get_caller_identity_output(opts=invoke_opts).account_id
        logs = (
            pulumi.Output.all(
                args.logs_bucket, args.logs_location, args.workgroup, args.database, args.table, args.results_bucket
            ).apply(
                lambda values: LogsAccess(
                    bucket=values[0],
                    logs_prefix=values[1].split(f"s3://{values[0]}/", 1)[1],
                    workgroup=values[2],
                    database=values[3],
                    table=values[4],
                    results_bucket=values[5],
                )
            )
            if args.logs_bucket is not None
            else None
        )
        document = pulumi.Output.all(partition, region, account, logs).apply(
            lambda values: json.dumps(verify_policy_document(*values))
        )
        self.policy = aws.iam.Policy(
            f"{name}-verify",
            description="What python -m verify reads on this stack (target health, access logs), and Athena's results",
            policy=document,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"policy_arn": self.policy.arn})
