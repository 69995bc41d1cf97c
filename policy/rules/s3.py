"""S3 rules: every bucket and its companion resources (S3.2, .3, .5, .8, .12, .13; ELB.5's SSE-S3)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final

from .core import (
    UNKNOWN,
    PlannedResource,
    StackCheck,
    StackRule,
    as_list,
    identifiers,
    label,
    refers_to,
    show,
    value_at,
)

BUCKET: Final = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
PUBLIC_ACCESS_BLOCK: Final = frozenset({"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"})
OWNERSHIP_CONTROLS: Final = frozenset({"aws:s3/bucketOwnershipControls:BucketOwnershipControls"})
BUCKET_POLICY: Final = frozenset({"aws:s3/bucketPolicy:BucketPolicy"})
LIFECYCLE: Final = frozenset(
    {
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
    }
)
ENCRYPTION: Final = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)


PropsProblem = Callable[[Mapping[str, Any]], str | None]


def _bucket_companion(
    types: frozenset[str], what: str, problem: PropsProblem, inline: PropsProblem | None = None
) -> StackCheck:
    """Every bucket has a companion resource (of `types`) whose props show no `problem`.

    `inline` judges the bucket's own props first: None means they meet the control by themselves,
    otherwise it returns the end of the message for a bucket without a companion.
    """

    def check(resources: Sequence[PlannedResource]) -> list[str]:
        messages = []
        for bucket in (r for r in resources if r.type in BUCKET):
            inline_problem = inline(bucket.props) if inline is not None else ""
            if inline_problem is None:
                continue
            ids = identifiers(bucket, "bucket", "id")
            companions = [r for r in resources if r.type in types and refers_to(r, "bucket", ids, {bucket.urn})]
            problems = [(c, problem(c.props)) for c in companions]
            if companions and any(found is None for _, found in problems):
                continue
            if not companions:
                messages.append(f"bucket {label(bucket)} has no {what}{inline_problem}; declare one")
            messages += [f"bucket {label(bucket)}: {c.name!r} {found}" for c, found in problems]
        return messages

    return check


_PUBLIC_ACCESS_FLAGS: Final = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _public_access_flags(props: Mapping[str, Any]) -> str | None:
    off = [
        f"{flag}={show(value_at(props, flag))}"
        for flag in _PUBLIC_ACCESS_FLAGS
        if value_at(props, flag) not in (True, UNKNOWN)
    ]
    if not off:
        return None
    return (
        f"leaves {', '.join(off)}; set block_public_acls, block_public_policy, ignore_public_acls "
        "and restrict_public_buckets all to True"
    )


S3_2_3_8_BLOCK_PUBLIC_ACCESS = StackRule(
    id="s3-2-3-8-block-public-access",
    control="S3.2/S3.3/S3.8",
    description="Every S3 bucket has a public access block with all four flags on",
    applies_to_dev=True,  # vacuous without a bucket; a dev bucket must still be private
    check=_bucket_companion(
        PUBLIC_ACCESS_BLOCK, "aws.s3.BucketPublicAccessBlock with all four flags True", _public_access_flags
    ),
)


def _ownership(props: Mapping[str, Any]) -> str | None:
    value = value_at(props, "rule.objectOwnership")
    if value in ("BucketOwnerEnforced", UNKNOWN):
        return None
    return f'has objectOwnership {show(value)}; set rule={{"object_ownership": "BucketOwnerEnforced"}} (ACLs off)'


S3_12_ACLS_DISABLED = StackRule(
    id="s3-12-acls-disabled",
    control="S3.12",
    description="Every S3 bucket disables ACLs (object ownership BucketOwnerEnforced)",
    applies_to_dev=True,
    check=_bucket_companion(
        OWNERSHIP_CONTROLS, 'aws.s3.BucketOwnershipControls(object_ownership="BucketOwnerEnforced")', _ownership
    ),
)


def _denies_insecure_transport(props: Mapping[str, Any]) -> str | None:
    policy = value_at(props, "policy")
    if policy is UNKNOWN:
        return None
    try:
        document = json.loads(policy) if isinstance(policy, str) else policy
    except ValueError:
        document = None
    statements = value_at(document, "Statement")
    statements = [statements] if isinstance(statements, Mapping) else as_list(statements)
    for statement in statements if statements is not UNKNOWN else []:
        secure_transport = value_at(statement, "Condition.Bool") or {}
        value = secure_transport.get("aws:SecureTransport") if isinstance(secure_transport, Mapping) else None
        values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        if value_at(statement, "Effect") == "Deny" and any(str(v).lower() == "false" for v in values):
            return None
    return (
        'has no statement denying requests where "aws:SecureTransport" is "false"; add {"Effect": "Deny", '
        '"Principal": "*", "Action": "s3:*", "Resource": [bucket ARN, bucket ARN/*], '
        '"Condition": {"Bool": {"aws:SecureTransport": "false"}}}'
    )


S3_5_DENY_INSECURE_TRANSPORT = StackRule(
    id="s3-5-deny-insecure-transport",
    control="S3.5",
    description='Every S3 bucket policy denies requests where "aws:SecureTransport" is "false"',
    applies_to_dev=True,
    check=_bucket_companion(
        BUCKET_POLICY,
        'aws.s3.BucketPolicy denying "aws:SecureTransport": "false" (beside the ELB log-delivery Allow)',
        _denies_insecure_transport,
    ),
)


def _lifecycle(props: Mapping[str, Any]) -> str | None:
    rules = as_list(value_at(props, "rules"))
    if rules is UNKNOWN or UNKNOWN in rules:
        return None
    enabled = [r for r in rules if value_at(r, "status") in ("Enabled", UNKNOWN)]
    expires = any(value_at(r, "expiration.days") or value_at(r, "expiration.date") for r in enabled)
    aborts = any(value_at(r, "abortIncompleteMultipartUpload.daysAfterInitiation") for r in enabled)
    if expires and aborts:
        return None
    return (
        f"has enabled rules with expiration: {expires}, abortIncompleteMultipartUpload: {aborts}; set rules=[{{"
        'status: "Enabled", expiration: {days: N}, abort_incomplete_multipart_upload: {days_after_initiation: N}}]'
    )


S3_13_LIFECYCLE = StackRule(
    id="s3-13-lifecycle",
    control="S3.13",
    description="Every S3 bucket has lifecycle rules that expire objects and abort incomplete uploads",
    applies_to_dev=True,
    check=_bucket_companion(
        LIFECYCLE,
        "aws.s3.BucketLifecycleConfiguration with expiration and abort_incomplete_multipart_upload",
        _lifecycle,
    ),
)


def _sse_algorithms(rules: Iterable[Any]) -> list[Any]:
    return [value_at(rule, "applyServerSideEncryptionByDefault.sseAlgorithm") for rule in rules]


def _sse_s3(algorithms: list[Any]) -> str | None:
    if algorithms and all(a in ("AES256", UNKNOWN) for a in algorithms):
        return None
    return (
        f"has sseAlgorithm {algorithms!r}; set apply_server_side_encryption_by_default="
        '{"sse_algorithm": "AES256"}: ALB access log delivery supports SSE-S3 only, not KMS'
    )


def _sse_resource(props: Mapping[str, Any]) -> str | None:
    rules = as_list(value_at(props, "rules"))
    return None if rules is UNKNOWN else _sse_s3(_sse_algorithms(rules))


def _sse_inline(bucket_props: Mapping[str, Any]) -> str | None:
    # The bucket's own serverSideEncryptionConfiguration (deprecated as an input, computed as an output:
    # unknown in a preview, and AWS's default SSE-S3 once the bucket exists).
    inline = value_at(bucket_props, "serverSideEncryptionConfiguration")
    if inline is UNKNOWN:
        return None
    if inline is None:
        return ", and its own serverSideEncryptionConfiguration is absent"
    problem = _sse_s3(_sse_algorithms([value_at(inline, "rule")]))
    return problem and f", and its own serverSideEncryptionConfiguration {problem}"


S3_SSE_S3_ENCRYPTION = StackRule(
    id="s3-sse-s3-encryption",
    control="ELB.5",
    description=(
        "Every S3 bucket is encrypted with SSE-S3 (AES256), the only encryption ALB access log delivery supports"
    ),
    applies_to_dev=True,
    check=_bucket_companion(
        ENCRYPTION,
        'aws.s3.BucketServerSideEncryptionConfiguration with sse_algorithm="AES256"',
        _sse_resource,
        inline=_sse_inline,
    ),
)
