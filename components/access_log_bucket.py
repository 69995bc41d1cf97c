"""Access log bucket: a private, encrypted S3 bucket the region's load balancers may write to."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws_tables import ELB_ACCOUNT_IDS, ELB_LOG_DELIVERY
from components.options import ACCESS_LOG_PREFIX
from components.private_bucket import deny_plain_http, private_bucket


def log_writer(region: str, partition: str) -> dict[str, str]:
    """The bucket policy principal that delivers the region's ALB access logs; `partition` is the region's
    ARN partition as the provider reports it (aws.get_partition)."""
    account = ELB_ACCOUNT_IDS.get(region)
    if account is None:
        return {"Service": ELB_LOG_DELIVERY}
    return {"AWS": f"arn:{partition}:iam::{account}:root"}


@dataclass(frozen=True)
class AccessLogBucketArgs:
    prefix: str = ACCESS_LOG_PREFIX
    """Key prefix the load balancer writes under. @default ACCESS_LOG_PREFIX, "alb"."""
    retention_days: int = 90
    """Days a log object is kept before it expires (S3.13). @default 90."""
    force_destroy: bool = True
    """Let `pulumi destroy` delete a bucket that still holds logs. @default True; set False to keep
    the logs of a stack that is torn down."""


class AccessLogBucket(pulumi.ComponentResource):
    """An S3 bucket for ALB access logs (ELB.5): SSE-S3 encryption (ALB log delivery supports no
    KMS key), public access blocked (S3.2/3/8), ACLs off (S3.12), objects expiring (S3.13), and a
    policy that lets only the region's log writer (`log_writer`) put objects under the prefix and
    refuses plain HTTP (S3.5).

    `bucket_name` resolves once the policy is in place: AWS checks that it may write when access
    logging is turned on, so pass `bucket_name` (not `bucket.bucket`) to the load balancer.
    Exposes `bucket`, `policy`, `bucket_name` and `prefix` (where the policy lets the ALB write).
    """

    bucket: aws.s3.Bucket
    policy: aws.s3.BucketPolicy
    bucket_name: pulumi.Output[str]
    prefix: str

    def __init__(self, name: str, args: AccessLogBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("alb-replicas:access_log_bucket:AccessLogBucket", name, None, opts)
        child_opts = pulumi.ResourceOptions(parent=self)

        created = private_bucket(
            f"{name}-access-logs",
            retention_days=args.retention_days,
            force_destroy=args.force_destroy,
            lifecycle_id="expire-access-logs",
            opts=child_opts,
        )
        self.bucket = created.bucket
        self.prefix = args.prefix
        public_access_block = created.public_access_block

        invoke_opts = pulumi.InvokeOutputOptions(parent=self)
        region = aws.get_region_output(opts=invoke_opts).region
        partition = aws.get_partition_output(opts=invoke_opts).partition
        account_id = aws.get_caller_identity_output(opts=invoke_opts).account_id
        policy_document = pulumi.Output.all(self.bucket.arn, region, partition, account_id).apply(
            lambda values: json.dumps(
                _bucket_policy(values[0], log_writer(values[1], values[2]), values[3], prefix=args.prefix)
            )
        )
        # After the public access block: S3 rejects a policy while the bucket's settings change.
        self.policy = aws.s3.BucketPolicy(
            f"{name}-access-logs",
            bucket=self.bucket.id,
            policy=policy_document,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[public_access_block]),
        )
        self.bucket_name = pulumi.Output.all(self.bucket.bucket, self.policy.id).apply(lambda values: values[0])

        self.register_outputs({"bucket_name": self.bucket_name})


def _bucket_policy(bucket_arn: str, writer: dict[str, str], account_id: str, *, prefix: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ElbWritesAccessLogs",
                "Effect": "Allow",
                "Principal": writer,
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/{prefix}/AWSLogs/{account_id}/*",
            },
            deny_plain_http(bucket_arn),
        ],
    }
