"""A private, encrypted S3 bucket with objects that expire: what every bucket of the stack starts as.

Not a component of its own: a function that declares the bucket and its companions (SSE-S3, public
access blocked, ACLs off, lifecycle) as children of the component that owns it, which adds the policy.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws


@dataclass(frozen=True)
class PrivateBucket:
    bucket: aws.s3.Bucket
    public_access_block: aws.s3.BucketPublicAccessBlock  # a bucket policy goes after it (S3 refuses it before)


def private_bucket(
    name: str, *, retention_days: int, force_destroy: bool, lifecycle_id: str, opts: pulumi.ResourceOptions
) -> PrivateBucket:
    """A bucket named `name` (its companions too): SSE-S3 (the only encryption ALB log delivery takes),
    public access blocked (S3.2/3/8), ACLs off (S3.12), objects expiring after `retention_days` and
    incomplete uploads after 7 days (S3.13)."""
    bucket = aws.s3.Bucket(name, force_destroy=force_destroy, opts=opts)
    aws.s3.BucketServerSideEncryptionConfiguration(
        name,
        bucket=bucket.id,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                    sse_algorithm="AES256"
                )
            )
        ],
        opts=opts,
    )
    public_access_block = aws.s3.BucketPublicAccessBlock(
        name,
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=opts,
    )
    aws.s3.BucketOwnershipControls(
        name,
        bucket=bucket.id,
        rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
        opts=opts,
    )
    aws.s3.BucketLifecycleConfiguration(
        name,
        bucket=bucket.id,
        rules=[
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id=lifecycle_id,
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                    days_after_initiation=7
                ),
            )
        ],
        opts=opts,
    )
    return PrivateBucket(bucket, public_access_block)


def deny_plain_http(bucket_arn: str) -> dict:
    """The policy statement that refuses every request over plain HTTP (S3.5)."""
    return {
        "Sid": "DenyPlainHttp",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
