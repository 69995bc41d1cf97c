"""CloudWatch Logs rules: every log group has a retention period."""

from __future__ import annotations

from typing import Final

from .core import ResourceRule, value_check

LOG_GROUP: Final = frozenset({"aws:cloudwatch/logGroup:LogGroup"})


LOG_GROUP_RETENTION = ResourceRule(
    id="log-group-retention",
    control="Good practice",
    description="CloudWatch log groups have a retention period",
    applies_to_dev=True,
    resource_types=LOG_GROUP,
    check=value_check(
        "retentionInDays", lambda v: bool(v), "retention_in_days= e.g. 7 (absent or 0 keeps logs forever)"
    ),
)
