"""The stack's guardrails as plain functions: each rule enforces one AWS FSBP control (or a named good practice).

Two kinds of rule, both free of `pulumi_policy` so the program's unit tests can run them on mocked resources:

- `ResourceRule`: called as `rule(resource_type, props) -> list[str]`, one resource at a time;
- `StackRule`: called as `rule(resources) -> list[str]`, on every `PlannedResource` of the stack, for
  relations between resources (a bucket and its public access block, a VPC and its flow log).

`props` use the Pulumi schema's camelCase names. A value a preview cannot see yet (computed from another
resource's output) is `UNKNOWN`: a rule passes it, unless its absence is itself the violation.
Every message starts with the control id and says what is wrong, the value, and what to set.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final


class Unknown(enum.Enum):
    """A value that exists but that a preview cannot see yet."""

    UNKNOWN = "unknown"

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Final = Unknown.UNKNOWN


@dataclass(frozen=True)
class PlannedResource:
    """One resource of a stack as a stack rule sees it."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    # URNs this resource depends on; known in a preview even where the ids they stand for are not.
    dependencies: frozenset[str] = frozenset()
    # Per input property, the URNs its value comes from (more precise than `dependencies` where known).
    property_dependencies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    parent: str | None = None
    # The provider's id where known (Pulumi mocks make it "<name>_id"); the policy engine does not give it.
    id: str | None = None


# A check sees the type too: one rule may cover several types that declare the same thing differently.
ResourceCheck = Callable[[str, Mapping[str, Any]], list[str]]
StackCheck = Callable[[Sequence[PlannedResource]], list[str]]


@dataclass(frozen=True)
class ResourceRule:
    """A rule on the properties of one resource; applies only to `resource_types`."""

    id: str
    control: str
    description: str
    applies_to_dev: bool
    resource_types: frozenset[str]
    check: ResourceCheck

    def __call__(self, resource_type: str, props: Mapping[str, Any]) -> list[str]:
        if resource_type not in self.resource_types:
            return []
        return [f"{self.control}: {problem}" for problem in self.check(resource_type, props)]


@dataclass(frozen=True)
class StackRule:
    """A rule on the relations between the resources of a stack."""

    id: str
    control: str
    description: str
    applies_to_dev: bool
    check: StackCheck

    def __call__(self, resources: Sequence[PlannedResource]) -> list[str]:
        return [f"{self.control}: {problem}" for problem in self.check(resources)]


Rule = ResourceRule | StackRule

# Type tokens, checked against pulumi-aws 7 (`super().__init__('aws:...')` in each resource module).
# The aws:alb/* tokens are pulumi-aws' aliases of aws:lb/*; the S3 *V2 tokens are deprecated twins.
LOAD_BALANCER: Final = frozenset({"aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"})
LISTENER: Final = frozenset({"aws:lb/listener:Listener", "aws:alb/listener:Listener"})
ECS_SERVICE: Final = frozenset({"aws:ecs/service:Service"})
TASK_DEFINITION: Final = frozenset({"aws:ecs/taskDefinition:TaskDefinition"})
ECS_CLUSTER: Final = frozenset({"aws:ecs/cluster:Cluster"})
SECURITY_GROUP: Final = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE: Final = "aws:ec2/securityGroupRule:SecurityGroupRule"
INGRESS_RULE: Final = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE: Final = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
SECURITY_GROUP_INGRESS: Final = frozenset({SECURITY_GROUP, SECURITY_GROUP_RULE, INGRESS_RULE})
SECURITY_GROUP_EGRESS: Final = frozenset({SECURITY_GROUP, SECURITY_GROUP_RULE, EGRESS_RULE})
SECURITY_GROUP_ANY: Final = SECURITY_GROUP_INGRESS | SECURITY_GROUP_EGRESS
DEFAULT_SECURITY_GROUP: Final = frozenset({"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"})
SUBNET: Final = frozenset({"aws:ec2/subnet:Subnet"})
VPC: Final = "aws:ec2/vpc:Vpc"
AWSX_VPC: Final = "awsx:ec2:Vpc"
FLOW_LOG: Final = "aws:ec2/flowLog:FlowLog"
LOG_GROUP: Final = frozenset({"aws:cloudwatch/logGroup:LogGroup"})
CERTIFICATE: Final = frozenset({"aws:acm/certificate:Certificate"})
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

RECOMMENDED_TLS_POLICY: Final = "ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09"
WORLD: Final = frozenset({"0.0.0.0/0", "::/0"})
WORLD_OPEN_PORTS: Final = frozenset({80, 443})
# What pulumi-aws puts in a security group's description when none is given: says nothing.
PROVIDER_DEFAULT_SG_DESCRIPTION: Final = "Managed by Pulumi"
# Environment names ECS.8 looks for: credentials belong in "secrets", never in "environment".
CREDENTIAL_NAME_PARTS: Final = ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN", "ECS_ENGINE_AUTH_DATA")


# --- reading props -----------------------------------------------------------------------------------


def _get(props: Any, path: str) -> Any:
    """The value at a dotted path; `UNKNOWN` if any step is unknown, None if any step is absent."""
    value = props
    for key in path.split("."):
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _items(value: Any) -> list[Any] | Unknown:
    """A list prop as a list: None is empty, anything but a list is unknown."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return UNKNOWN


def _show(value: Any) -> str:
    if value is None:
        return "absent"
    if isinstance(value, float) and value.is_integer():  # the engine hands numbers over as floats
        return str(int(value))
    return repr(value)


def _setting(
    path: str, ok: Callable[[Any], bool], fix: str, when: Callable[[Mapping], bool] | None = None
) -> ResourceCheck:
    """A check that the value at `path` is `ok`; absent values are `None` (fix should name the default)."""

    def check(resource_type: str, props: Mapping[str, Any]) -> list[str]:
        if when is not None and not when(props):
            return []
        value = _get(props, path)
        if value is UNKNOWN or ok(value):
            return []
        return [f"{path} is {_show(value)}; set {fix}"]

    return check


def _is_application_lb(props: Mapping[str, Any]) -> bool:
    return _get(props, "loadBalancerType") in (None, UNKNOWN, "application")


# --- load balancer and listeners ---------------------------------------------------------------------


def _access_logs(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if not _is_application_lb(props):
        return []
    enabled, bucket = _get(props, "accessLogs.enabled"), _get(props, "accessLogs.bucket")
    if (enabled is True or enabled is UNKNOWN) and (bucket is UNKNOWN or bucket):
        return []
    return [
        f"accessLogs is {_show(_get(props, 'accessLogs'))}; set access_logs=aws.lb.LoadBalancerAccessLogsArgs("
        "bucket=<log bucket>, prefix=..., enabled=True)"
    ]


def _two_subnets(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    subnets, mappings = _items(_get(props, "subnets")), _items(_get(props, "subnetMappings"))
    if subnets is UNKNOWN or mappings is UNKNOWN:
        return []
    subnet_ids = subnets or [_get(mapping, "subnetId") for mapping in mappings]
    # Unknown ids count one each: they are distinct subnets the preview cannot name yet.
    count = len({s for s in subnet_ids if s is not UNKNOWN}) + sum(s is UNKNOWN for s in subnet_ids)
    if count >= 2:
        return []
    return [f"the load balancer has {count} subnet(s) {subnet_ids!r}; set subnets= one subnet in each of >= 2 zones"]


_REDIRECT_TO_HTTPS: Final = {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}


def _redirects_to_https(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if _get(props, "protocol") not in (None, "HTTP"):  # None: an ALB listener's default protocol is HTTP
        return []
    actions = _items(_get(props, "defaultActions"))
    if actions is UNKNOWN:
        return []
    for action in actions:
        if action is UNKNOWN:
            return []
        redirect = _get(action, "redirect")
        if _get(action, "type") == "redirect" and all(
            _get(redirect, key) in (want, UNKNOWN) for key, want in _REDIRECT_TO_HTTPS.items()
        ):
            return []
    shown = [{"type": _get(a, "type"), "redirect": _get(a, "redirect")} for a in actions]
    return [
        f"HTTP listener on port {_show(_get(props, 'port'))} has default actions {shown!r}; set default_actions="
        '[{"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}}]'
    ]


def _https_listener(props: Mapping[str, Any]) -> bool:
    return _get(props, "protocol") == "HTTPS"


# --- ECS ------------------------------------------------------------------------------------------------


ContainerProblem = Callable[[Mapping[str, Any]], str | None]


def _each_container(problem: ContainerProblem) -> ResourceCheck:
    """A check that runs `problem` on every container of a task definition's containerDefinitions JSON."""

    def check(resource_type: str, props: Mapping[str, Any]) -> list[str]:
        raw = _get(props, "containerDefinitions")
        if raw is UNKNOWN or raw is None:
            return []
        try:
            containers = _items(json.loads(raw) if isinstance(raw, str) else raw)
        except ValueError:
            containers = UNKNOWN
        if containers is UNKNOWN:  # ECS would refuse it too; fail closed rather than pass it
            return [
                f"containerDefinitions is not a JSON list: {raw!r:.80}; set container_definitions=json.dumps([...])"
            ]
        messages = []
        for container in containers:
            found = problem(container) if isinstance(container, Mapping) else None
            if found:
                messages.append(f"container {container.get('name')!r} {found}")
        return messages

    return check


def _privileged(container: Mapping[str, Any]) -> str | None:
    if container.get("privileged") is True:
        return 'has "privileged": true; remove it (or set "privileged": false)'
    return None


def _writable_root(container: Mapping[str, Any]) -> str | None:
    value = container.get("readonlyRootFilesystem")
    if value is True:
        return None
    return (
        f'has "readonlyRootFilesystem": {_show(value)}; set "readonlyRootFilesystem": true '
        '(writable paths as task volumes + "mountPoints")'
    )


def _credentials_in_environment(container: Mapping[str, Any]) -> str | None:
    names = [entry.get("name") for entry in container.get("environment") or [] if isinstance(entry, Mapping)]
    # Only the names go into the message: the values may be the very secrets.
    leaked = [n for n in names if isinstance(n, str) and any(part in n.upper() for part in CREDENTIAL_NAME_PARTS)]
    if not leaked:
        return None
    return f'has AWS credentials in "environment": {leaked!r}; remove them: use the task role, or "secrets"'


def _no_log_configuration(container: Mapping[str, Any]) -> str | None:
    if _get(container, "logConfiguration.logDriver"):
        return None
    return (
        f'has "logConfiguration": {_show(container.get("logConfiguration"))}; set "logConfiguration": '
        '{"logDriver": "awslogs", "options": {...}}'
    )


def _root_user(container: Mapping[str, Any]) -> str | None:
    user = container.get("user")
    if isinstance(user, str) and user.split(":")[0] not in ("", "root", "0"):
        return None
    return f'runs as "user": {_show(user)} (root); set "user": "<uid>:<gid>" of an unprivileged user, e.g. "101:101"'


def _container_insights(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    settings = _items(_get(props, "settings"))
    if settings is UNKNOWN:
        return []
    values = [_get(s, "value") for s in settings if _get(s, "name") in ("containerInsights", UNKNOWN)]
    if any(v in ("enabled", "enhanced", UNKNOWN) for v in values):
        return []
    return [
        f"containerInsights is {_show(values[0] if values else None)}; set "
        'settings=[{"name": "containerInsights", "value": "enabled"}] on the aws.ecs.Cluster'
    ]


def _shared_role(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    execution, task = _get(props, "executionRoleArn"), _get(props, "taskRoleArn")
    if isinstance(execution, str) and execution and execution == task:
        return [
            f"executionRoleArn and taskRoleArn are the same role {execution!r}; set task_role_arn to a role of its "
            "own, without the execution role's ECR and logs permissions"
        ]
    return []


# --- EC2 and security groups --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Permission:
    """One security group rule, whichever of the three ways it was declared."""

    label: str
    direction: str
    protocol: Any
    from_port: Any
    to_port: Any
    cidrs: tuple[Any, ...]
    description: Any


def _cidrs(*lists: Any) -> tuple[Any, ...]:
    """The known CIDRs of several list props (an unknown one cannot be the world's yet)."""
    return tuple(cidr for value in lists if (items := _items(value)) is not UNKNOWN for cidr in items)


def _permissions(resource_type: str, props: Mapping[str, Any]) -> list[_Permission]:
    if resource_type in (INGRESS_RULE, EGRESS_RULE):
        direction = "ingress" if resource_type == INGRESS_RULE else "egress"
        return [
            _Permission(
                "the rule",
                direction,
                _get(props, "ipProtocol"),
                _get(props, "fromPort"),
                _get(props, "toPort"),
                (_get(props, "cidrIpv4"), _get(props, "cidrIpv6")),
                _get(props, "description"),
            )
        ]
    if resource_type == SECURITY_GROUP_RULE:
        return [
            _Permission(
                "the rule",
                _get(props, "type"),
                _get(props, "protocol"),
                _get(props, "fromPort"),
                _get(props, "toPort"),
                _cidrs(_get(props, "cidrBlocks"), _get(props, "ipv6CidrBlocks")),
                _get(props, "description"),
            )
        ]
    permissions = []  # a security group's inline rules
    for direction in ("ingress", "egress"):
        rules = _items(_get(props, direction))
        for index, rule in enumerate(rules if rules is not UNKNOWN else []):
            permissions.append(
                _Permission(
                    f"{direction}[{index}]",
                    direction,
                    _get(rule, "protocol"),
                    _get(rule, "fromPort"),
                    _get(rule, "toPort"),
                    _cidrs(_get(rule, "cidrBlocks"), _get(rule, "ipv6CidrBlocks")),
                    _get(rule, "description"),
                )
            )
    return permissions


def _open_to_world(permission: _Permission) -> list[str]:
    return sorted(c for c in permission.cidrs if c in WORLD)


def _all_protocols(protocol: Any) -> bool:
    return str(protocol).lower() in ("-1", "all")


def _world_ingress(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    messages = []
    for p in _permissions(resource_type, props):
        open_to = _open_to_world(p)
        if p.direction != "ingress" or not open_to or UNKNOWN in (p.protocol, p.from_port, p.to_port):
            continue
        all_ports = _all_protocols(p.protocol)
        if not all_ports and p.from_port == p.to_port and p.from_port in WORLD_OPEN_PORTS:
            continue
        ports = "all ports" if all_ports else f"ports {_show(p.from_port)}-{_show(p.to_port)}"
        messages.append(
            f"{p.label} opens {ports} ({_show(p.protocol)}) to {', '.join(open_to)}; set cidr_blocks/cidr_ipv4 to a "
            "narrower range, or referenced_security_group_id instead: only ports 80 and 443 may be open to the world"
        )
    return messages


def _world_egress(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    return [
        f"{p.label} lets all traffic ({_show(p.protocol)}) out to {', '.join(_open_to_world(p))}; set "
        'protocol="tcp" and only the ports needed (replicas: 443 for image pulls and logs; the load balancer: '
        "the container port to the replicas' security group)"
        for p in _permissions(resource_type, props)
        if p.direction == "egress" and _open_to_world(p) and _all_protocols(p.protocol)
    ]


def _missing_description(value: Any) -> bool:
    return value is not UNKNOWN and (not isinstance(value, str) or not value.strip())


def _descriptions(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    messages = []
    if resource_type == SECURITY_GROUP:
        description = _get(props, "description")
        if _missing_description(description) or description == PROVIDER_DEFAULT_SG_DESCRIPTION:
            messages.append(f"the security group's description is {_show(description)}; set description= its purpose")
    messages += [
        f"{p.label} has description {_show(p.description)}; set description= what it allows and why"
        for p in _permissions(resource_type, props)
        if _missing_description(p.description)
    ]
    return messages


def _default_sg_rules(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    return [
        f"the default security group has {direction} rules {rules!r}; remove them: declare "
        f"aws.ec2.DefaultSecurityGroup(vpc_id=...) without {direction}"
        for direction in ("ingress", "egress")
        if (rules := _items(_get(props, direction))) is not UNKNOWN and rules
    ]


# --- stack rules: S3 buckets and their companion resources --------------------------------------------


def _identifiers(resource: PlannedResource, *keys: str) -> frozenset[str]:
    """The strings another resource may use to name this one: its id, and its name props where known."""
    values = (resource.id, *(_get(resource.props, key) for key in keys))
    return frozenset(v for v in values if isinstance(v, str) and v)


def _refers_to(child: PlannedResource, prop: str, identifiers: frozenset[str], urns: frozenset[str]) -> bool:
    """Whether `child.props[prop]` names the target: by value (ids known) or by dependency (preview)."""
    value = _get(child.props, prop)
    if isinstance(value, str) and value in identifiers:
        return True
    dependencies = child.property_dependencies.get(prop, child.dependencies)
    return bool(dependencies & urns)


def _label(resource: PlannedResource) -> str:
    return f"{resource.name!r} ({resource.urn})"


Verdict = Callable[[Mapping[str, Any]], str | None]


def _bucket_companion(types: frozenset[str], what: str, problem: Verdict, inline: Verdict | None = None) -> StackCheck:
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
            ids = _identifiers(bucket, "bucket", "id")
            companions = [r for r in resources if r.type in types and _refers_to(r, "bucket", ids, {bucket.urn})]
            problems = [(c, problem(c.props)) for c in companions]
            if companions and any(found is None for _, found in problems):
                continue
            if not companions:
                messages.append(f"bucket {_label(bucket)} has no {what}{inline_problem}; declare one")
            messages += [f"bucket {_label(bucket)}: {c.name!r} {found}" for c, found in problems]
        return messages

    return check


_PUBLIC_ACCESS_FLAGS: Final = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _public_access_flags(props: Mapping[str, Any]) -> str | None:
    off = [
        f"{flag}={_show(_get(props, flag))}"
        for flag in _PUBLIC_ACCESS_FLAGS
        if _get(props, flag) not in (True, UNKNOWN)
    ]
    if not off:
        return None
    return (
        f"leaves {', '.join(off)}; set block_public_acls, block_public_policy, ignore_public_acls "
        "and restrict_public_buckets all to True"
    )


def _ownership(props: Mapping[str, Any]) -> str | None:
    value = _get(props, "rule.objectOwnership")
    if value in ("BucketOwnerEnforced", UNKNOWN):
        return None
    return f'has objectOwnership {_show(value)}; set rule={{"object_ownership": "BucketOwnerEnforced"}} (ACLs off)'


def _denies_insecure_transport(props: Mapping[str, Any]) -> str | None:
    policy = _get(props, "policy")
    if policy is UNKNOWN:
        return None
    try:
        document = json.loads(policy) if isinstance(policy, str) else policy
    except ValueError:
        document = None
    statements = _get(document, "Statement")
    statements = [statements] if isinstance(statements, Mapping) else _items(statements)
    for statement in statements if statements is not UNKNOWN else []:
        secure_transport = _get(statement, "Condition.Bool") or {}
        value = secure_transport.get("aws:SecureTransport") if isinstance(secure_transport, Mapping) else None
        values = value if isinstance(value, Sequence) and not isinstance(value, str) else [value]
        if _get(statement, "Effect") == "Deny" and any(str(v).lower() == "false" for v in values):
            return None
    return (
        'has no statement denying requests where "aws:SecureTransport" is "false"; add {"Effect": "Deny", '
        '"Principal": "*", "Action": "s3:*", "Resource": [bucket ARN, bucket ARN/*], '
        '"Condition": {"Bool": {"aws:SecureTransport": "false"}}}'
    )


def _lifecycle(props: Mapping[str, Any]) -> str | None:
    rules = _items(_get(props, "rules"))
    if rules is UNKNOWN or UNKNOWN in rules:
        return None
    enabled = [r for r in rules if _get(r, "status") in ("Enabled", UNKNOWN)]
    expires = any(_get(r, "expiration.days") or _get(r, "expiration.date") for r in enabled)
    aborts = any(_get(r, "abortIncompleteMultipartUpload.daysAfterInitiation") for r in enabled)
    if expires and aborts:
        return None
    return (
        f"has enabled rules with expiration: {expires}, abortIncompleteMultipartUpload: {aborts}; set rules=[{{"
        'status: "Enabled", expiration: {days: N}, abort_incomplete_multipart_upload: {days_after_initiation: N}}]'
    )


def _sse_algorithms(rules: Iterable[Any]) -> list[Any]:
    return [_get(rule, "applyServerSideEncryptionByDefault.sseAlgorithm") for rule in rules]


def _sse_s3(algorithms: list[Any]) -> str | None:
    if algorithms and all(a in ("AES256", UNKNOWN) for a in algorithms):
        return None
    return (
        f"has sseAlgorithm {algorithms!r}; set apply_server_side_encryption_by_default="
        '{"sse_algorithm": "AES256"}: ALB access log delivery supports SSE-S3 only, not KMS'
    )


def _sse_resource(props: Mapping[str, Any]) -> str | None:
    rules = _items(_get(props, "rules"))
    return None if rules is UNKNOWN else _sse_s3(_sse_algorithms(rules))


def _sse_inline(bucket_props: Mapping[str, Any]) -> str | None:
    # The bucket's own serverSideEncryptionConfiguration (deprecated as an input, computed as an output:
    # unknown in a preview, and AWS's default SSE-S3 once the bucket exists).
    inline = _get(bucket_props, "serverSideEncryptionConfiguration")
    if inline is UNKNOWN:
        return None
    if inline is None:
        return ", and its own serverSideEncryptionConfiguration is absent"
    problem = _sse_s3(_sse_algorithms([_get(inline, "rule")]))
    return problem and f", and its own serverSideEncryptionConfiguration {problem}"


# --- stack rules: VPC flow logs ------------------------------------------------------------------------


def _vpc_companion(types: frozenset[str], counts: Callable[[Mapping[str, Any]], bool], missing: str) -> StackCheck:
    """Every VPC has a companion resource (of `types`, whose props `counts`) naming it by `vpcId`.

    Both shapes of VPC: aws:ec2/vpc:Vpc (a real preview) and the awsx:ec2:Vpc component (the only one under
    the program's mocks, which give it a `vpcId` output). A VPC inside an awsx component is the same VPC
    as its component: a companion of either covers both.
    """

    def check(resources: Sequence[PlannedResource]) -> list[str]:
        vpcs = [r for r in resources if r.type in (VPC, AWSX_VPC)]
        components = {r.urn for r in vpcs if r.type == AWSX_VPC}
        groups: dict[str, list[PlannedResource]] = {}
        for vpc in vpcs:
            key = vpc.parent if vpc.type == VPC and vpc.parent in components else vpc.urn
            groups.setdefault(key, []).append(vpc)
        companions = [r for r in resources if r.type in types and counts(r.props)]
        messages = []
        for members in groups.values():
            ids = frozenset().union(*(_identifiers(m, "id", "vpcId") for m in members))
            urns = frozenset(m.urn for m in members)
            if not any(_refers_to(c, "vpcId", ids, urns) for c in companions):
                messages.append(f"VPC {_label(members[0])} has no {missing}")
        return messages

    return check


# --- the registry -------------------------------------------------------------------------------------


ALL_RULES: Final[tuple[Rule, ...]] = (
    ResourceRule(
        "elb-1-http-redirects-to-https",
        "ELB.1",
        "HTTP listeners redirect to HTTPS (port 443, HTTP_301)",
        False,  # dev serves plain HTTP when no domain is set
        LISTENER,
        _redirects_to_https,
    ),
    ResourceRule(
        "elb-4-drop-invalid-headers",
        "ELB.4",
        "Application load balancers drop invalid HTTP header fields",
        True,
        LOAD_BALANCER,
        _setting(
            "dropInvalidHeaderFields",
            lambda v: v is True,
            "drop_invalid_header_fields=True (provider default False)",
            _is_application_lb,
        ),
    ),
    ResourceRule(
        "elb-5-access-logs",
        "ELB.5",
        "Application load balancers write access logs to S3",
        False,  # optional in dev
        LOAD_BALANCER,
        _access_logs,
    ),
    ResourceRule(
        "elb-6-deletion-protection",
        "ELB.6",
        "Load balancers have deletion protection enabled",
        False,  # dev is torn down freely
        LOAD_BALANCER,
        _setting(
            "enableDeletionProtection", lambda v: v is True, "enable_deletion_protection=True (provider default False)"
        ),
    ),
    ResourceRule(
        "elb-12-desync-mitigation",
        "ELB.12",
        "Application load balancers use desync mitigation mode defensive or strictest, never monitor",
        True,
        LOAD_BALANCER,
        _setting(
            "desyncMitigationMode",
            lambda v: v in (None, "defensive", "strictest"),
            'desync_mitigation_mode="defensive" (the default) or "strictest"',
            _is_application_lb,
        ),
    ),
    ResourceRule(
        "elb-13-multi-az",
        "ELB.13",
        "Load balancers span at least two availability zones (two subnets)",
        True,
        LOAD_BALANCER,
        _two_subnets,
    ),
    ResourceRule(
        "elb-17-tls-policy",
        "ELB.17",
        f"HTTPS listeners use the TLS policy {RECOMMENDED_TLS_POLICY}",
        False,  # dev has no HTTPS listener when no domain is set
        LISTENER,
        _setting(
            "sslPolicy",
            lambda v: v == RECOMMENDED_TLS_POLICY,
            f'ssl_policy="{RECOMMENDED_TLS_POLICY}" (the provider default ELBSecurityPolicy-2016-08 fails ELB.17)',
            _https_listener,
        ),
    ),
    ResourceRule(
        "ecs-2-no-public-ip",
        "ECS.2",
        "ECS services do not assign public IPs to tasks",
        False,  # dev has no NAT gateway: tasks need a public IP to pull their image
        ECS_SERVICE,
        _setting(
            "networkConfiguration.assignPublicIp",
            lambda v: v is not True,
            "network_configuration.assign_public_ip=False (tasks in private subnets behind a NAT gateway)",
        ),
    ),
    ResourceRule(
        "ecs-3-no-host-pid",
        "ECS.3",
        "Task definitions do not share the host's process namespace",
        True,
        TASK_DEFINITION,
        _setting("pidMode", lambda v: v != "host", "nothing: leave pid_mode unset"),
    ),
    ResourceRule(
        "ecs-4-not-privileged",
        "ECS.4",
        "Containers do not run privileged",
        True,
        TASK_DEFINITION,
        _each_container(_privileged),
    ),
    ResourceRule(
        "ecs-5-read-only-root",
        "ECS.5",
        "Every container has a read-only root filesystem",
        True,
        TASK_DEFINITION,
        _each_container(_writable_root),
    ),
    ResourceRule(
        "ecs-8-no-credentials-in-environment",
        "ECS.8",
        "No AWS credentials in container environment variables",
        True,
        TASK_DEFINITION,
        _each_container(_credentials_in_environment),
    ),
    ResourceRule(
        "ecs-9-log-configuration",
        "ECS.9",
        "Every container has a log configuration",
        True,
        TASK_DEFINITION,
        _each_container(_no_log_configuration),
    ),
    ResourceRule(
        "ecs-10-latest-platform",
        "ECS.10",
        "Fargate services run the latest platform version",
        True,
        ECS_SERVICE,
        _setting("platformVersion", lambda v: v in (None, "LATEST"), 'platform_version="LATEST" (or leave it unset)'),
    ),
    ResourceRule(
        "ecs-12-container-insights",
        "ECS.12",
        "ECS clusters have Container Insights enabled",
        False,  # optional in dev, which turns it off to stay under $50 a month
        ECS_CLUSTER,
        _container_insights,
    ),
    ResourceRule(
        "ecs-17-no-host-network",
        "ECS.17",
        "Task definitions do not use host network mode",
        True,
        TASK_DEFINITION,
        _setting("networkMode", lambda v: v != "host", 'network_mode="awsvpc"'),
    ),
    ResourceRule(
        "ecs-20-non-root-user",
        "ECS.20",
        "Every container runs as a non-root user",
        True,
        TASK_DEFINITION,
        _each_container(_root_user),
    ),
    ResourceRule(
        "ecs-separate-task-role",
        "Good practice",
        "The task role differs from the execution role",
        True,
        TASK_DEFINITION,
        _shared_role,
    ),
    ResourceRule(
        "ec2-2-default-sg-no-rules",
        "EC2.2",
        "The VPC's default security group allows no traffic",
        True,
        DEFAULT_SECURITY_GROUP,
        _default_sg_rules,
    ),
    ResourceRule(
        "ec2-15-no-auto-public-ip",
        "EC2.15",
        "Subnets do not assign public IPs on launch",
        False,  # optional in dev: awsx public subnets assign them by default
        SUBNET,
        _setting(
            "mapPublicIpOnLaunch",
            lambda v: v is not True,
            "map_public_ip_on_launch=False (awsx public subnets default to True: change it with a transform)",
        ),
    ),
    ResourceRule(
        "ec2-18-19-world-ingress-80-443-only",
        "EC2.18/EC2.19",
        "Only ports 80 and 443 accept traffic from 0.0.0.0/0 or ::/0",
        True,
        SECURITY_GROUP_INGRESS,
        _world_ingress,
    ),
    ResourceRule(
        "sg-egress-not-all-traffic",
        "Good practice",
        "No security group lets all traffic out to 0.0.0.0/0 or ::/0",
        True,
        SECURITY_GROUP_EGRESS,
        _world_egress,
    ),
    ResourceRule(
        "sg-descriptions",
        "Good practice",
        "Every security group and security group rule has a description",
        True,
        SECURITY_GROUP_ANY,
        _descriptions,
    ),
    ResourceRule(
        "log-group-retention",
        "Good practice",
        "CloudWatch log groups have a retention period",
        True,
        LOG_GROUP,
        _setting("retentionInDays", lambda v: bool(v), "retention_in_days= e.g. 7 (absent or 0 keeps logs forever)"),
    ),
    ResourceRule(
        "acm-1-dns-validation",
        "ACM.1",
        "ACM certificates are validated by DNS, so they renew automatically",
        True,
        CERTIFICATE,
        _setting(
            "validationMethod",
            lambda v: v == "DNS",
            'validation_method="DNS" with a validation record and aws.acm.CertificateValidation',
            lambda props: _get(props, "domainName") is not None,  # imported certificates have no validation
        ),
    ),
    ResourceRule(
        "acm-2-rsa-2048",
        "ACM.2",
        "ACM certificates use RSA keys of at least 2048 bits (or ECDSA)",
        True,
        CERTIFICATE,
        _setting(
            "keyAlgorithm",
            lambda v: v != "RSA_1024",
            'nothing: leave key_algorithm unset (RSA_2048) or "EC_prime256v1"',
        ),
    ),
    StackRule(
        "s3-2-3-8-block-public-access",
        "S3.2/S3.3/S3.8",
        "Every S3 bucket has a public access block with all four flags on",
        True,  # vacuous without a bucket; a dev bucket must still be private
        _bucket_companion(
            PUBLIC_ACCESS_BLOCK, "aws.s3.BucketPublicAccessBlock with all four flags True", _public_access_flags
        ),
    ),
    StackRule(
        "s3-5-deny-insecure-transport",
        "S3.5",
        'Every S3 bucket policy denies requests where "aws:SecureTransport" is "false"',
        True,
        _bucket_companion(
            BUCKET_POLICY,
            'aws.s3.BucketPolicy denying "aws:SecureTransport": "false" (beside the ELB log-delivery Allow)',
            _denies_insecure_transport,
        ),
    ),
    StackRule(
        "s3-12-acls-disabled",
        "S3.12",
        "Every S3 bucket disables ACLs (object ownership BucketOwnerEnforced)",
        True,
        _bucket_companion(
            OWNERSHIP_CONTROLS, 'aws.s3.BucketOwnershipControls(object_ownership="BucketOwnerEnforced")', _ownership
        ),
    ),
    StackRule(
        "s3-13-lifecycle",
        "S3.13",
        "Every S3 bucket has lifecycle rules that expire objects and abort incomplete uploads",
        True,
        _bucket_companion(
            LIFECYCLE,
            "aws.s3.BucketLifecycleConfiguration with expiration and abort_incomplete_multipart_upload",
            _lifecycle,
        ),
    ),
    StackRule(
        "s3-sse-s3-encryption",
        "ELB.5",
        "Every S3 bucket is encrypted with SSE-S3 (AES256), the only encryption ALB access log delivery supports",
        True,
        _bucket_companion(
            ENCRYPTION,
            'aws.s3.BucketServerSideEncryptionConfiguration with sse_algorithm="AES256"',
            _sse_resource,
            inline=_sse_inline,
        ),
    ),
    StackRule(
        "ec2-6-vpc-flow-logs",
        "EC2.6",
        "Every VPC has a flow log of rejected traffic",
        False,  # optional in dev
        _vpc_companion(
            frozenset({FLOW_LOG}),
            lambda props: _get(props, "trafficType") in ("REJECT", "ALL", UNKNOWN),  # ACCEPT alone misses EC2.6
            'flow log of REJECT (or ALL) traffic; declare aws.ec2.FlowLog(vpc_id=..., traffic_type="REJECT", '
            "log_destination=..., iam_role_arn=...)",
        ),
    ),
    StackRule(
        "ec2-2-default-sg-declared",
        "EC2.2",
        "Every VPC's default security group is declared (and so emptied of AWS's default rules)",
        True,
        _vpc_companion(
            DEFAULT_SECURITY_GROUP,
            lambda props: True,
            "aws.ec2.DefaultSecurityGroup: AWS's default rules stay (all egress, ingress from itself); declare "
            "aws.ec2.DefaultSecurityGroup(vpc_id=...) without ingress or egress",
        ),
    ),
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
