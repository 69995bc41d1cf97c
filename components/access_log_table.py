"""Access log table: the ALB's logs as an Athena table, and a workgroup to query them at a bounded cost."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.aws_limits import ATHENA_SCAN_CUTOFF, GLUE_NAME
from components.errors import SettingsError
from components.options import ACCESS_LOG_PREFIX
from components.private_bucket import deny_plain_http, private_bucket
from verify.sources.logs.query import ATHENA_COLUMNS, ATHENA_PARTITION, ATHENA_REGEX


@dataclass(frozen=True)
class AccessLogTableArgs:
    log_bucket: pulumi.Input[str]
    """The bucket the ALB writes its access logs to."""
    database_name: str
    """The Glue database: lower-case letters, digits and underscores (GLUE_NAME: Glue folds capitals, Athena wants
    lower case)."""
    workgroup_name: str
    """The Athena workgroup `verify --access-logs --engine athena` runs in."""
    log_prefix: str = ACCESS_LOG_PREFIX
    """The key prefix the ALB writes under. @default ACCESS_LOG_PREFIX, "alb"."""
    table_name: str = "access_logs"
    """The Glue table. @default "access_logs"."""
    projection_start: str = "2026/01/01"
    """The first day the table's `day` partition projects (yyyy/MM/dd). @default "2026/01/01"."""
    scan_limit_bytes: int = 10 * 1000**3
    """Athena cancels a query of the workgroup past this much data scanned (BytesScannedCutoffPerQuery): at
    $5 per TB, 5 cents a query at most. @default 10 GB."""
    results_retention_days: int = 7
    """Days a query result is kept in the results bucket. @default 7."""
    force_destroy: bool = True
    """Let `pulumi destroy` delete the results bucket and the workgroup with what they hold. @default True."""


class AccessLogTable(pulumi.ComponentResource):
    """A Glue database and table over the ALB's access logs, as AWS documents it (Athena user guide,
    "Create the table for ALB access logs", partition projection variant): AWS's regex, whose trailing
    optional group keeps lines with fields AWS appends later matching, and a `day` partition projected
    from the key's yyyy/mm/dd, so no crawler runs and a query reads only its days. An Athena workgroup
    that enforces its settings: results in a private, encrypted bucket whose objects expire, and a scan
    limit per query. `verify --access-logs --engine athena` runs in it.

    Exposes `database`, `table`, `workgroup`, `results_bucket` and `logs_location`.
    """

    database: aws.glue.CatalogDatabase
    table: aws.glue.CatalogTable
    workgroup: aws.athena.Workgroup
    results_bucket: aws.s3.Bucket
    logs_location: pulumi.Output[str]  # s3://bucket/prefix/AWSLogs/<account>/elasticloadbalancing/<region>/

    def __init__(self, name: str, args: AccessLogTableArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        for argument, glue_name in (("database_name", args.database_name), ("table_name", args.table_name)):
            problem = GLUE_NAME.problem(glue_name)
            if problem:
                raise SettingsError(
                    f"{glue_name!r} is not a name Glue keeps as given and Athena takes: {problem} ({GLUE_NAME.source})",
                    argument=argument,
                )
        if ATHENA_SCAN_CUTOFF.problem(args.scan_limit_bytes):
            raise SettingsError(
                f"{args.scan_limit_bytes} is below Athena's smallest per-query scan limit, "
                f"{ATHENA_SCAN_CUTOFF.low:.0f} ({ATHENA_SCAN_CUTOFF.source})",
                argument="scan_limit_bytes",
            )
        super().__init__("alb-replicas:access_log_table:AccessLogTable", name, None, opts)
        child_opts = pulumi.ResourceOptions(parent=self)
        invoke_opts = pulumi.InvokeOutputOptions(parent=self)
        region = aws.get_region_output(opts=invoke_opts).region
        account_id = aws.get_caller_identity_output(opts=invoke_opts).account_id
        prefix = args.log_prefix.strip("/")
        logs = pulumi.Output.format(
            "s3://{0}/{1}AWSLogs/{2}/elasticloadbalancing/{3}/",
            args.log_bucket, f"{prefix}/" if prefix else "", account_id, region,
        )  # fmt: skip

        self.database = aws.glue.CatalogDatabase(f"{name}-access-logs", name=args.database_name, opts=child_opts)
        self.table = aws.glue.CatalogTable(
            f"{name}-access-logs",
            name=args.table_name,
            database_name=self.database.name,
            table_type="EXTERNAL_TABLE",
            parameters=logs.apply(
                lambda location: {
                    "EXTERNAL": "TRUE",
                    "projection.enabled": "true",
                    f"projection.{ATHENA_PARTITION}.type": "date",
                    f"projection.{ATHENA_PARTITION}.range": f"{args.projection_start},NOW",
                    f"projection.{ATHENA_PARTITION}.format": "yyyy/MM/dd",
                    f"projection.{ATHENA_PARTITION}.interval": "1",
                    f"projection.{ATHENA_PARTITION}.interval.unit": "DAYS",
                    "storage.location.template": f"{location}${{{ATHENA_PARTITION}}}",
                }
            ),
            partition_keys=[aws.glue.CatalogTablePartitionKeyArgs(name=ATHENA_PARTITION, type="string")],
            storage_descriptor=aws.glue.CatalogTableStorageDescriptorArgs(
                location=logs,
                input_format="org.apache.hadoop.mapred.TextInputFormat",
                output_format="org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
                columns=[
                    aws.glue.CatalogTableStorageDescriptorColumnArgs(name=column, type=kind)
                    for column, kind in ATHENA_COLUMNS
                ],
                ser_de_info=aws.glue.CatalogTableStorageDescriptorSerDeInfoArgs(
                    serialization_library="org.apache.hadoop.hive.serde2.RegexSerDe",
                    parameters={"serialization.format": "1", "input.regex": ATHENA_REGEX},
                ),
            ),
            opts=child_opts,
        )

        results = private_bucket(
            f"{name}-athena-results",
            retention_days=args.results_retention_days,
            force_destroy=args.force_destroy,
            lifecycle_id="expire-query-results",
            opts=child_opts,
        )
        self.results_bucket = results.bucket
        # After the public access block: S3 rejects a policy while the bucket's settings change.
        policy = aws.s3.BucketPolicy(
            f"{name}-athena-results",
            bucket=self.results_bucket.id,
            policy=self.results_bucket.arn.apply(
                lambda arn: json.dumps({"Version": "2012-10-17", "Statement": [deny_plain_http(arn)]})
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[results.public_access_block]),
        )
        self.workgroup = aws.athena.Workgroup(
            f"{name}-access-logs",
            name=args.workgroup_name,
            force_destroy=args.force_destroy,
            configuration=aws.athena.WorkgroupConfigurationArgs(
                bytes_scanned_cutoff_per_query=args.scan_limit_bytes,
                enforce_workgroup_configuration=True,
                publish_cloudwatch_metrics_enabled=True,
                result_configuration=aws.athena.WorkgroupConfigurationResultConfigurationArgs(
                    output_location=pulumi.Output.format("s3://{0}/", self.results_bucket.bucket),
                    encryption_configuration=aws.athena.WorkgroupConfigurationResultConfigurationEncryptionConfigurationArgs(
                        encryption_option="SSE_S3"
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.logs_location = logs

        self.register_outputs(
            {
                "database": self.database.name,
                "table": self.table.name,
                "workgroup": self.workgroup.name,
                "results_bucket": self.results_bucket.bucket,
                "logs_location": self.logs_location,
            }
        )
