"""AWS's limits on every name and number this program sends, each with the reference it was read from.

The sources, in this order: botocore's service models installed with boto3
(`botocore/data/<service>/<version>/service-2.json`: a shape's `min`, `max` and `pattern`, and a member's
documentation where the model states the rule only in words, written below as "botocore <service>
<Shape>.<member>"); the AWS user guide a model points to instead of stating the rule (S3's bucket naming
rules, Athena's names); pulumi-aws's own naming of a resource the program leaves unnamed
(`provider/autonaming.go`, `provider/resource_overrides.go`, `provider/aliases.go` of pulumi/pulumi-aws); and
terraform-provider-aws's validation where it is stricter than the API (read in its
`internal/service/<service>/` sources).

Pure: settings check a stack's names and numbers here before anything is declared, and the tests' mocks
refuse every resource this table refuses (`declared_problems`), so no stack the settings accept meets a
limit first at `pulumi up`.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from components.aws_tables import fargate_size_problem

# --- names -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NameRule:
    """What AWS takes as one kind of name (or text)."""

    what: str
    max_length: int
    pattern: str
    """A regular expression the whole name must match."""
    source: str
    min_length: int = 1
    forbidden_prefixes: tuple[str, ...] = ()
    """Compared without regard to case: AWS's pages write them in lower case and do not say it is case-blind."""
    forbidden_suffixes: tuple[str, ...] = ()
    no_ip_address: bool = False

    def problem(self, name: str) -> str | None:
        """Why AWS refuses `name` here, in words, or None when it takes it."""
        if not self.min_length <= len(name) <= self.max_length:
            return f"{len(name)} characters, allowed {self.min_length} to {self.max_length}"
        if not re.fullmatch(self.pattern, name):
            return f"not of the form {self.pattern}"
        lowered = name.lower()
        for prefix in self.forbidden_prefixes:
            if lowered.startswith(prefix):
                return f"starts with {prefix!r}"
        for suffix in self.forbidden_suffixes:
            if lowered.endswith(suffix):
                return f"ends with {suffix!r}"
        if self.no_ip_address and _is_ip_address(name):
            return "formatted as an IP address"
        return None


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


LOAD_BALANCER_NAME = NameRule(
    "load balancer name",
    32,
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?",
    forbidden_prefixes=("internal-",),
    source="botocore elbv2 CreateLoadBalancerInput.Name",
)
TARGET_GROUP_NAME = NameRule(
    "target group name",
    32,
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?",
    source="botocore elbv2 CreateTargetGroupInput.Name",
)
# EC2's own words, for names and descriptions of security groups and of their rules.
_EC2_TEXT = r"[A-Za-z0-9 ._\-:/()#,@\[\]+=&;{}!$*]*"
SECURITY_GROUP_NAME = NameRule(
    "security group name",
    255,
    _EC2_TEXT,
    forbidden_prefixes=("sg-",),
    source="botocore ec2 CreateSecurityGroupRequest.GroupName",
)
SECURITY_GROUP_TEXT = NameRule(
    "security group (rule) description",
    255,
    _EC2_TEXT,
    min_length=0,
    source="botocore ec2 CreateSecurityGroupRequest.Description, IpRange.Description",
)
IAM_NAME = NameRule("IAM role or policy name", 64, r"[\w+=,.@-]+", source="botocore iam roleNameType")
IAM_POLICY_NAME = NameRule("IAM policy name", 128, r"[\w+=,.@-]+", source="botocore iam policyNameType")
IAM_DESCRIPTION = NameRule(
    "IAM role or policy description",
    1000,
    r"[\t\n\r\u0020-\u007E\u00A1-\u00FF]*",
    min_length=0,
    source="botocore iam roleDescriptionType, policyDescriptionType",
)
ALARM_NAME = NameRule(
    "CloudWatch alarm name", 255, r"[^\x00-\x1f\x7f]+", source="botocore cloudwatch PutMetricAlarmInput.AlarmName"
)
ALARM_DESCRIPTION = NameRule(
    "CloudWatch alarm description", 1024, r"(?s).*", min_length=0, source="botocore cloudwatch AlarmDescription"
)
METRIC_QUERY_ID = NameRule(
    "metric math query id", 255, r"[a-z][A-Za-z0-9_]*", source="botocore cloudwatch MetricDataQuery.Id"
)
SCALING_QUERY_ID = NameRule(
    "scaling policy metric query id",
    255,
    r"[a-z][A-Za-z0-9_]*",
    source="botocore application-autoscaling TargetTrackingMetricDataQuery.Id (a lowercase letter, then letters,"
    " numbers and underscores)",
)
FUNCTION_NAME = NameRule(
    "Lambda function name", 64, r"[a-zA-Z0-9_-]+", source="botocore lambda FunctionName (its name part: 64 characters)"
)
LOG_GROUP_NAME = NameRule("log group name", 512, r"[.\-_/#A-Za-z0-9]+", source="botocore logs LogGroupName")
ECS_NAME = NameRule(
    "ECS cluster, service or task family name",
    255,
    r"[A-Za-z0-9_-]+",
    source="botocore ecs CreateClusterRequest.clusterName, CreateServiceRequest.serviceName, "
    "RegisterTaskDefinitionRequest.family",
)
BUCKET_NAME = NameRule(
    "S3 bucket name",
    63,
    r"[a-z0-9](?:[a-z0-9-]|\.(?!\.))*[a-z0-9]",
    min_length=3,
    forbidden_prefixes=("xn--", "sthree-", "amzn-s3-demo-"),
    forbidden_suffixes=("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"),
    no_ip_address=True,
    source="S3 user guide, General purpose bucket naming rules (botocore's CreateBucketRequest.Bucket points there)",
)
# Glue keeps 255 characters and folds a name to lower case when it stores it (botocore glue NameString,
# DatabaseInput.Name); a name declared with capitals then reads back different and the provider plans its
# replacement at every `pulumi up`. Athena wants lower case, digits and underscores (Athena user guide, "Name
# databases, tables, and columns").
GLUE_NAME = NameRule(
    "Glue database or table name",
    255,
    r"[a-z0-9_]+",
    source="botocore glue NameString; Athena user guide, Name databases, tables, and columns",
)
WORKGROUP_NAME = NameRule("Athena workgroup name", 128, r"[a-zA-Z0-9._-]+", source="botocore athena WorkGroupName")
SCALING_POLICY_NAME = NameRule(
    "scaling policy name", 256, r"[\x20-\x7e]+", source="botocore application-autoscaling PolicyName"
)
# ACM takes up to 253 characters, but a certificate's domain name is its common name: "cannot exceed 64
# octets (characters), including periods" (RFC 5280).
CERTIFICATE_DOMAIN = NameRule(
    "certificate domain name",
    64,
    r"(?:(?:(?!-)[A-Za-z0-9-]{0,62}[A-Za-z0-9])\.)+(?:(?!-)[A-Za-z0-9-]{1,62}[A-Za-z0-9])",
    source="botocore acm RequestCertificateRequest.DomainName",
)

# --- how pulumi-aws names what the program leaves unnamed -----------------------------------------------


@dataclass(frozen=True)
class AutoName:
    """pulumi-aws's name for a resource declared without one: `<logical name>-<7 random characters>`,
    lowercased where the provider lowercases it; the provider refuses, in a preview, a logical name whose
    auto-name would pass `max_length` (pulumi-terraform-bridge's AutoName options)."""

    max_length: int
    lowercase: bool = False
    RANDOM = 7

    def of(self, logical_name: str, random: str = "a1b2c3d") -> str:
        name = f"{logical_name}-{random[: self.RANDOM]}"
        return name.lower() if self.lowercase else name


# Every resource with a `name` input gets AutoName("name", 255, "-") (provider/autonaming.go); these differ
# (provider/resource_overrides.go, provider/aliases.go).
DEFAULT_AUTONAME = AutoName(255)


@dataclass(frozen=True)
class Named:
    """A resource type the program declares, the input that names it, and AWS's rule for that name."""

    type: str
    """The Pulumi type token."""
    field: str
    """The input holding the name, as the engine sends it."""
    rule: NameRule
    autoname: AutoName | None = DEFAULT_AUTONAME
    """None: the provider never names it; the program always does."""


NAMED: dict[str, Named] = {
    named.type: named
    for named in (
        Named("aws:lb/loadBalancer:LoadBalancer", "name", LOAD_BALANCER_NAME),
        Named("aws:lb/targetGroup:TargetGroup", "name", TARGET_GROUP_NAME, AutoName(32)),
        Named("aws:ec2/securityGroup:SecurityGroup", "name", SECURITY_GROUP_NAME),
        Named("aws:iam/role:Role", "name", IAM_NAME, AutoName(64)),
        Named("aws:iam/rolePolicy:RolePolicy", "name", IAM_POLICY_NAME),
        Named("aws:iam/policy:Policy", "name", IAM_POLICY_NAME),
        Named("aws:cloudwatch/metricAlarm:MetricAlarm", "name", ALARM_NAME),
        Named("aws:cloudwatch/logGroup:LogGroup", "name", LOG_GROUP_NAME),
        Named("aws:lambda/function:Function", "name", FUNCTION_NAME, AutoName(64)),
        Named("aws:ecs/cluster:Cluster", "name", ECS_NAME),
        Named("aws:ecs/service:Service", "name", ECS_NAME),
        Named("aws:ecs/taskDefinition:TaskDefinition", "family", ECS_NAME, None),
        Named("aws:s3/bucket:Bucket", "bucket", BUCKET_NAME, AutoName(63, lowercase=True)),
        Named("aws:glue/catalogDatabase:CatalogDatabase", "name", GLUE_NAME, None),
        Named("aws:glue/catalogTable:CatalogTable", "name", GLUE_NAME, None),
        Named("aws:athena/workgroup:Workgroup", "name", WORKGROUP_NAME, None),
        Named("aws:appautoscaling/policy:Policy", "name", SCALING_POLICY_NAME),
        Named("aws:acm/certificate:Certificate", "domainName", CERTIFICATE_DOMAIN, None),
    )
}


def physical_name(named: Named, logical_name: str, inputs: Mapping[str, object]) -> object:
    """The name AWS gets: the one declared, else pulumi-aws's auto-name of the logical name."""
    given = inputs.get(named.field)
    if given is not None or named.autoname is None:
        return given
    return named.autoname.of(logical_name)


# --- numbers ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberRule:
    """What AWS takes as one number. The provider sends some as decimal text (ECS's bake minutes)."""

    what: str
    source: str
    low: float | None = None
    high: float | None = None
    multiple_of: float | None = None
    allowed: tuple[float, ...] | None = None
    integer: bool = True

    @property
    def range(self) -> tuple[int, int]:
        """(low, high) as whole numbers, for settings' ranges."""
        assert self.low is not None and self.high is not None
        return int(self.low), int(self.high)

    def problem(self, value: object) -> str | None:
        """Why AWS refuses `value` here, in words, or None when it takes it."""
        number = _number(value)
        if number is None or (self.integer and number != int(number)):
            return f"{value!r} is not {'a whole number' if self.integer else 'a number'}"
        if self.allowed is not None and number not in self.allowed:
            return f"{_shown(number)} is not one of {', '.join(map(_shown, self.allowed))}"
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            return f"{_shown(number)} is outside {_shown(self.low)} to {_shown(self.high)}"
        if self.multiple_of is not None and not _is_multiple(number, self.multiple_of):
            return f"{_shown(number)} is not a multiple of {_shown(self.multiple_of)}"
        return None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+(?:\.[0-9]+)?", value):
        return float(value)
    return None


def _is_multiple(number: float, step: float) -> bool:
    """Up to float error: 5.5 is a multiple of 0.1, 5.55 is not."""
    quotient = number / step
    return abs(quotient - round(quotient)) < 1e-6


def _shown(number: float | None) -> str:
    return "any" if number is None else f"{number:g}"


def tenths(number: float) -> bool:
    """`number` is a multiple of 0.1, as ECS takes a traffic share."""
    return _is_multiple(number, 0.1)


BAKE_MINUTES = NumberRule(
    "bake time in minutes",
    "botocore ecs DeploymentConfiguration.bakeTimeInMinutes, LinearConfiguration.stepBakeTimeInMinutes, "
    "CanaryConfiguration.canaryBakeTimeInMinutes (0 to 1440)",
    low=0,
    high=1440,
)
LINEAR_STEP_PERCENT = NumberRule(
    "linear step percent",
    "botocore ecs LinearConfiguration.stepPercent: multiples of 0.1 from 3.0 to 100.0",
    low=3.0,
    high=100.0,
    multiple_of=0.1,
    integer=False,
)
CANARY_PERCENT = NumberRule(
    "canary percent",
    "botocore ecs CanaryConfiguration.canaryPercent: multiples of 0.1 from 0.1 to 100.0",
    low=0.1,
    high=100.0,
    multiple_of=0.1,
    integer=False,
)
HEALTH_CHECK_INTERVAL = NumberRule(
    "health check interval", "botocore elbv2 HealthCheckIntervalSeconds", low=5, high=300
)
HEALTH_CHECK_TIMEOUT = NumberRule("health check timeout", "botocore elbv2 HealthCheckTimeoutSeconds", low=2, high=120)
HEALTH_CHECK_THRESHOLD = NumberRule(
    "health check threshold", "botocore elbv2 HealthCheckThresholdCount", low=2, high=10
)
DEREGISTRATION_DELAY = NumberRule(
    "deregistration delay",
    "botocore elbv2 TargetGroupAttribute.Key, deregistration_delay.timeout_seconds: 0-3600",
    low=0,
    high=3600,
)
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip
LOG_RETENTION = NumberRule(
    "log retention in days", "botocore logs Days", allowed=tuple(float(days) for days in LOG_RETENTION_DAYS)
)
# ALB metrics are regular-resolution (one a minute): a period of a multiple of 60.
ALARM_PERIOD = NumberRule(
    "alarm metric period", "botocore cloudwatch MetricStat.Period: a multiple of 60 for regular resolution", low=60,
    multiple_of=60,
)  # fmt: skip
CAPACITY_PROVIDER_BASE = NumberRule(
    "capacity provider base", "botocore ecs CapacityProviderStrategyItemBase", low=0, high=100_000
)
CAPACITY_PROVIDER_WEIGHT = NumberRule(
    "capacity provider weight", "botocore ecs CapacityProviderStrategyItemWeight", low=0, high=1000
)
PORT = NumberRule("port", "botocore elbv2 Port", low=1, high=65535)
ATHENA_SCAN_CUTOFF = NumberRule(
    "bytes scanned per query", "botocore athena BytesScannedCutoffValue (min 10000000)", low=10_000_000
)
AT_LEAST_ONE = NumberRule("count", "botocore (min 1)", low=1)
AT_LEAST_ZERO = NumberRule("count", "botocore (min 0)", low=0)


@dataclass(frozen=True)
class Field:
    """A value of a resource's inputs, by path: `a.b` walks mappings, `a[].b` every item of a list, and a
    string that holds JSON (a container definition) is read as its JSON."""

    type: str
    path: str
    rule: NumberRule | NameRule


_TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
_SERVICE = "aws:ecs/service:Service"
_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
_SG_RULES = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
)
_DEPLOYMENT = "deploymentConfiguration"

FIELDS: tuple[Field, ...] = (
    Field(_TARGET_GROUP, "port", PORT),
    Field(_TARGET_GROUP, "healthCheck.interval", HEALTH_CHECK_INTERVAL),
    Field(_TARGET_GROUP, "healthCheck.timeout", HEALTH_CHECK_TIMEOUT),
    Field(_TARGET_GROUP, "healthCheck.healthyThreshold", HEALTH_CHECK_THRESHOLD),
    Field(_TARGET_GROUP, "healthCheck.unhealthyThreshold", HEALTH_CHECK_THRESHOLD),
    Field(
        _TARGET_GROUP, "healthCheck.path", NameRule("health check path", 1024, r"/\S*", source="botocore elbv2 Path")
    ),
    Field(_TARGET_GROUP, "deregistrationDelay", DEREGISTRATION_DELAY),
    Field(
        _TARGET_GROUP,
        "slowStart",
        NumberRule(
            "slow start",
            "botocore elbv2 slow_start.duration_seconds: 30-900, 0 to turn it off",
            allowed=(0.0, *map(float, range(30, 901))),
        ),
    ),
    Field(
        "aws:lb/loadBalancer:LoadBalancer",
        "idleTimeout",
        NumberRule("idle timeout", "botocore elbv2 idle_timeout.timeout_seconds: 1-4000", low=1, high=4000),
    ),
    Field("aws:lb/listener:Listener", "port", PORT),
    Field(
        "aws:lb/listenerRule:ListenerRule",
        "priority",
        NumberRule("listener rule priority", "botocore elbv2 RulePriority", low=1, high=50000),
    ),
    Field(
        "aws:lb/listenerRule:ListenerRule",
        "actions[].forward.targetGroups[].weight",
        NumberRule("forward weight", "botocore elbv2 TargetGroupTuple.Weight: 0 to 999", low=0, high=999),
    ),
    Field(_SERVICE, "desiredCount", AT_LEAST_ZERO),
    Field(
        _SERVICE,
        "healthCheckGracePeriodSeconds",
        NumberRule("grace period", "terraform-provider-aws ecs service.go: 0 to MaxInt32", low=0, high=2**31 - 1),
    ),
    Field(_SERVICE, "loadBalancers[].containerPort", PORT),
    *(
        Field(type_, f"{strategies}[].{item}", rule)
        for type_, strategies in (
            (_SERVICE, "capacityProviderStrategies"),
            ("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders", "defaultCapacityProviderStrategies"),
        )
        for item, rule in (("base", CAPACITY_PROVIDER_BASE), ("weight", CAPACITY_PROVIDER_WEIGHT))
    ),
    Field(_SERVICE, f"{_DEPLOYMENT}.bakeTimeInMinutes", BAKE_MINUTES),
    Field(_SERVICE, f"{_DEPLOYMENT}.linearConfiguration.stepBakeTimeInMinutes", BAKE_MINUTES),
    Field(_SERVICE, f"{_DEPLOYMENT}.linearConfiguration.stepPercent", LINEAR_STEP_PERCENT),
    Field(_SERVICE, f"{_DEPLOYMENT}.canaryConfiguration.canaryBakeTimeInMinutes", BAKE_MINUTES),
    Field(_SERVICE, f"{_DEPLOYMENT}.canaryConfiguration.canaryPercent", CANARY_PERCENT),
    Field(
        "aws:ecs/taskDefinition:TaskDefinition",
        "containerDefinitions[].stopTimeout",
        NumberRule(
            "stop timeout", "botocore ecs ContainerDefinition.stopTimeout: at most 120 on Fargate", low=0, high=120
        ),
    ),
    Field(_ALARM, "metricQueries[].metric.period", ALARM_PERIOD),
    Field(_ALARM, "metricQueries[].id", METRIC_QUERY_ID),
    Field(
        "aws:appautoscaling/policy:Policy",
        "targetTrackingScalingPolicyConfiguration.customizedMetricSpecification.metrics[].id",
        SCALING_QUERY_ID,
    ),
    Field(_ALARM, "evaluationPeriods", AT_LEAST_ONE),
    Field(_ALARM, "datapointsToAlarm", AT_LEAST_ONE),
    Field(_ALARM, "alarmDescription", ALARM_DESCRIPTION),
    Field("aws:cloudwatch/logGroup:LogGroup", "retentionInDays", LOG_RETENTION),
    Field(
        "aws:lambda/function:Function",
        "timeout",
        NumberRule(
            "Lambda timeout", "botocore lambda CreateFunctionRequest.Timeout: 1 to 1,800 seconds", low=1, high=1800
        ),
    ),
    Field(
        "aws:lambda/function:Function",
        "memorySize",
        NumberRule(
            "Lambda memory", "AWS Lambda developer guide, Lambda quotas: 128 MB to 10,240 MB", low=128, high=10_240
        ),
    ),
    Field(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "rules[].expiration.days",
        NumberRule("expiration days", "botocore s3 LifecycleExpiration.Days: a non-zero positive integer", low=1),
    ),
    Field(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "rules[].abortIncompleteMultipartUpload.daysAfterInitiation",
        NumberRule("abort days", "botocore s3 AbortIncompleteMultipartUpload.DaysAfterInitiation", low=1),
    ),
    Field("aws:athena/workgroup:Workgroup", "configuration.bytesScannedCutoffPerQuery", ATHENA_SCAN_CUTOFF),
    Field(
        "aws:ec2/flowLog:FlowLog",
        "maxAggregationInterval",
        NumberRule(
            "aggregation interval", "botocore ec2 CreateFlowLogsRequest.MaxAggregationInterval", allowed=(60.0, 600.0)
        ),
    ),
    Field("aws:appautoscaling/target:Target", "minCapacity", AT_LEAST_ZERO),
    Field("aws:appautoscaling/target:Target", "maxCapacity", AT_LEAST_ZERO),
    Field("aws:ec2/securityGroup:SecurityGroup", "description", SECURITY_GROUP_TEXT),
    *(Field(rule_type, "description", SECURITY_GROUP_TEXT) for rule_type in _SG_RULES),
    *(Field(iam, "description", IAM_DESCRIPTION) for iam in ("aws:iam/role:Role", "aws:iam/policy:Policy")),
)


@dataclass(frozen=True)
class Relation:
    """Two values of one resource that AWS holds against each other: `lesser` below (or at most) `greater`."""

    type: str
    lesser: str
    greater: str
    strict: bool
    source: str


RELATIONS: tuple[Relation, ...] = (
    Relation(
        _TARGET_GROUP,
        "healthCheck.timeout",
        "healthCheck.interval",
        strict=True,
        source="the ELB API: 'Health check interval must be greater than the timeout' (terraform-provider-aws "
        "issue #48070)",
    ),
    Relation(
        _ALARM,
        "datapointsToAlarm",
        "evaluationPeriods",
        strict=False,
        source="botocore cloudwatch PutMetricAlarmInput.DatapointsToAlarm: M out of N",
    ),
    Relation(
        "aws:appautoscaling/target:Target",
        "minCapacity",
        "maxCapacity",
        strict=False,
        source="botocore application-autoscaling RegisterScalableTargetRequest",
    ),
)


def values_at(inputs: object, path: str) -> Iterator[object]:
    """Every value at `path` in `inputs` (see Field); nothing when a part is missing."""
    head, _, rest = path.partition(".")
    each = head.endswith("[]")
    key = head[:-2] if each else head
    if isinstance(inputs, str) and inputs[:1] in "[{":
        try:
            inputs = json.loads(inputs)
        except ValueError:
            return
    if not isinstance(inputs, Mapping) or inputs.get(key) is None:
        return
    value = inputs[key]
    if isinstance(value, str) and value[:1] in "[{":
        try:
            value = json.loads(value)
        except ValueError:
            return
    items = value if each and isinstance(value, list) else [value] if not each else []
    for item in items:
        if rest:
            yield from values_at(item, rest)
        else:
            yield item


def _known(value: object) -> bool:
    """A plain value: an unknown (a preview's) is some other object, and passes every check."""
    return isinstance(value, str | int | float | bool)


def declared_problems(type_: str, logical_name: str, inputs: Mapping[str, object]) -> list[str]:
    """What AWS (or the provider) refuses in a resource of `type_` declared as `logical_name` with `inputs`:
    its name (declared, or the one pulumi-aws makes), each field of FIELDS and each relation of RELATIONS."""
    problems = []
    named = NAMED.get(type_)
    if named is not None:
        name = physical_name(named, logical_name, inputs)
        if named.autoname is not None and inputs.get(named.field) is None and isinstance(name, str):
            longest = named.autoname.max_length
            if len(name) > longest:
                problems.append(
                    f"pulumi-aws refuses to auto-name {logical_name!r}: {name!r} is longer than {longest} characters"
                )
        problem = named.rule.problem(name) if isinstance(name, str) else None
        if problem:
            problems.append(f"{named.rule.what} {name!r}: {problem} ({named.rule.source})")
    for field in FIELDS:
        if field.type != type_:
            continue
        for value in values_at(inputs, field.path):
            if not _known(value):
                continue
            problem = field.rule.problem(value) if isinstance(field.rule, NumberRule) else _text_problem(field, value)
            if problem:
                problems.append(f"{field.path}: {problem} ({field.rule.source})")
    for relation in RELATIONS:
        if relation.type != type_:
            continue
        lesser = [_number(v) for v in values_at(inputs, relation.lesser) if _known(v)]
        greater = [_number(v) for v in values_at(inputs, relation.greater) if _known(v)]
        for low, high in zip(lesser, greater, strict=False):
            if low is not None and high is not None and (low >= high if relation.strict else low > high):
                shown = "below" if relation.strict else "at most"
                problems.append(
                    f"{relation.lesser} {low:g} must be {shown} {relation.greater} {high:g} ({relation.source})"
                )
    if type_ == "aws:ecs/taskDefinition:TaskDefinition":
        cpu, memory = (_number(inputs.get(key)) for key in ("cpu", "memory"))
        if cpu is not None and memory is not None:
            fargate = fargate_size_problem(int(cpu), int(memory))
            if fargate:
                problems.append(f"{fargate} (AWS Fargate task sizes)")
    return problems


def _text_problem(field: Field, value: object) -> str | None:
    assert isinstance(field.rule, NameRule)
    return field.rule.problem(value) if isinstance(value, str) else f"{value!r} is not text"


# --- the names the program derives from namePrefix --------------------------------------------------------


@dataclass(frozen=True)
class DerivedName:
    """A name the program makes from the stack's namePrefix: `<prefix><suffix>`, declared as the resource's
    logical name (auto-named by pulumi-aws) or, `given`, as its name itself."""

    type: str
    suffix: str
    given: bool = False

    def physical(self, prefix: str) -> str:
        named = NAMED[self.type]
        stem = f"{prefix}{self.suffix}"
        if self.given or named.autoname is None:
            return stem
        return named.autoname.of(stem)


# The Glue database: Athena's form of the prefix (lower case, underscores).
ATHENA_DATABASE_SUFFIX = "_alb_logs"


def athena_database_name(prefix: str) -> str:
    """The Glue database of the stack's access logs: lower case (Glue folds it so; see GLUE_NAME), underscores."""
    return f"{prefix}{ATHENA_DATABASE_SUFFIX}".lower().replace("-", "_")


DERIVED_NAMES: tuple[DerivedName, ...] = (
    DerivedName("aws:lb/loadBalancer:LoadBalancer", "-alb"),
    DerivedName("aws:lb/targetGroup:TargetGroup", "-tg"),
    DerivedName("aws:lb/targetGroup:TargetGroup", "-alt"),
    DerivedName("aws:ec2/securityGroup:SecurityGroup", "-alb"),
    DerivedName("aws:ec2/securityGroup:SecurityGroup", "-replicas"),
    DerivedName("aws:iam/role:Role", "-execution"),
    DerivedName("aws:iam/role:Role", "-task"),
    DerivedName("aws:iam/role:Role", "-infrastructure"),
    DerivedName("aws:iam/role:Role", "-flow-logs"),
    DerivedName("aws:iam/rolePolicy:RolePolicy", "-flow-logs"),
    DerivedName("aws:cloudwatch/logGroup:LogGroup", "-flow-logs"),
    DerivedName("aws:cloudwatch/metricAlarm:MetricAlarm", "-target-5xx"),
    DerivedName("aws:cloudwatch/metricAlarm:MetricAlarm", "-unhealthy-hosts"),
    DerivedName("aws:ecs/cluster:Cluster", "-cluster"),
    DerivedName("aws:ecs/service:Service", "-service"),
    DerivedName("aws:ecs/taskDefinition:TaskDefinition", "-replica", given=True),
    DerivedName("aws:s3/bucket:Bucket", "-access-logs"),
    DerivedName("aws:s3/bucket:Bucket", "-athena-results"),
    DerivedName("aws:athena/workgroup:Workgroup", "-access-logs", given=True),
    DerivedName("aws:appautoscaling/policy:Policy", "-requests"),
    DerivedName("aws:appautoscaling/policy:Policy", "-cpu"),
    DerivedName("aws:iam/policy:Policy", "-verify"),
    DerivedName("aws:lambda/function:Function", "-deploy-hook"),
    DerivedName("aws:iam/role:Role", "-hook"),
    DerivedName("aws:iam/role:Role", "-hook-invoke"),
    DerivedName("aws:iam/rolePolicy:RolePolicy", "-hook-logs"),
    DerivedName("aws:iam/rolePolicy:RolePolicy", "-hook-reads"),
    DerivedName("aws:iam/rolePolicy:RolePolicy", "-hook-invoke"),
)


def replica_log_group(prefix: str) -> str:
    """The replicas' log group, named by the program after the task family (the ECS console's convention)."""
    return f"/ecs/{prefix}-replica"


def deploy_hook_log_group(prefix: str) -> str:
    """The deploy hook's log group, named by the program (Lambda's convention, /aws/lambda/<function>)."""
    return f"/aws/lambda/{prefix}-deploy-hook"


def _longest_stem(derived: DerivedName) -> int:
    named = NAMED[derived.type]
    if derived.given or named.autoname is None:
        return named.rule.max_length - len(derived.suffix)
    longest = min(named.rule.max_length, named.autoname.max_length)
    return longest - len(named.autoname.of("", "x" * AutoName.RANDOM)) - len(derived.suffix)


# The longest namePrefix every derived name fits: the load balancer's "-alb" (and the target groups'
# "-alt") in 32 characters with pulumi-aws's 8.
NAME_MAX = min(_longest_stem(derived) for derived in DERIVED_NAMES)


def name_problem(prefix: str, types: Collection[str] | None = None) -> str | None:
    """Why `prefix` cannot stem the stack's names, or None when it can: first the form every one of them
    needs (the load balancer's), then each name the program derives from it (`derived_name_problem`)."""
    if len(prefix) > NAME_MAX or not re.fullmatch(TARGET_GROUP_NAME.pattern, prefix):
        return (
            f"{prefix!r} must be 1 to {NAME_MAX} letters, digits or hyphens, not start or end with a "
            "hyphen (AWS load balancer and target group names, plus Pulumi's 8-character suffix, must fit in 32)"
        )
    return derived_name_problem(prefix, types)


def derived_name_problem(prefix: str, types: Collection[str] | None = None) -> str | None:
    """The first name derived from `prefix` (DERIVED_NAMES, the replicas' log group, the Glue database) that
    AWS refuses, in one line, or None; with `types`, only the names of those resource types (a component's
    own)."""
    derived = [(NAMED[d.type].rule, d.physical(prefix)) for d in DERIVED_NAMES if types is None or d.type in types]
    if types is None or "aws:cloudwatch/logGroup:LogGroup" in types:
        derived += [(LOG_GROUP_NAME, replica_log_group(prefix)), (LOG_GROUP_NAME, deploy_hook_log_group(prefix))]
    if types is None or "aws:glue/catalogDatabase:CatalogDatabase" in types:
        derived.append((GLUE_NAME, athena_database_name(prefix)))
    for rule, name in derived:
        problem = rule.problem(name)
        if problem:
            return f"{prefix!r} makes the {rule.what} {name!r}, which AWS refuses: {problem} ({rule.source})"
    return None
