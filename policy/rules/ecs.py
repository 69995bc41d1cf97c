"""ECS rules: the cluster, the service and the task definition's containers (ECS.2 to ECS.20),
a task role of its own, and for ECS's traffic-shifting deploys (blue/green, linear, canary) rollback
on an alarm and an infrastructure role that can do no more than AWS's policy for load balancers (and call
the deploy's lifecycle hooks)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from .core import (
    UNKNOWN,
    PlannedResource,
    ResourceCheck,
    ResourceRule,
    StackRule,
    as_list,
    identifiers,
    label,
    refers_to,
    show,
    value_at,
    value_check,
)

ECS_SERVICE: Final = frozenset({"aws:ecs/service:Service"})
TASK_DEFINITION: Final = frozenset({"aws:ecs/taskDefinition:TaskDefinition"})
ECS_CLUSTER: Final = frozenset({"aws:ecs/cluster:Cluster"})
METRIC_ALARM: Final = "aws:cloudwatch/metricAlarm:MetricAlarm"
IAM_ROLE: Final = "aws:iam/role:Role"
ROLE_POLICY_ATTACHMENT: Final = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
ROLE_POLICY: Final = "aws:iam/rolePolicy:RolePolicy"
# Inline policies and attachments that may grant a role more: each names the role in its `role` prop.
ROLE_GRANTS: Final = frozenset(
    {
        ROLE_POLICY_ATTACHMENT,
        ROLE_POLICY,
        "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
    }
)
SHIFTING_STRATEGIES: Final = ("BLUE_GREEN", "LINEAR", "CANARY")
# AWS's managed policy for ECS's infrastructure role for load balancers, in any partition.
LOAD_BALANCER_INFRASTRUCTURE_POLICY: Final = ":iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
# Environment names ECS.8 looks for: credentials belong in "secrets", never in "environment".
CREDENTIAL_NAME_PARTS: Final = ("ACCESS_KEY_ID", "SECRET_ACCESS_KEY", "SESSION_TOKEN", "ECS_ENGINE_AUTH_DATA")


ContainerProblem = Callable[[Mapping[str, Any]], str | None]


def _each_container(problem: ContainerProblem) -> ResourceCheck:
    """A check that runs `problem` on every container of a task definition's containerDefinitions JSON."""

    def check(resource_type: str, props: Mapping[str, Any]) -> list[str]:
        raw = value_at(props, "containerDefinitions")
        if raw is UNKNOWN or raw is None:
            return []
        try:
            containers = as_list(json.loads(raw) if isinstance(raw, str) else raw)
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


ECS_4_NOT_PRIVILEGED = ResourceRule(
    id="ecs-4-not-privileged",
    control="ECS.4",
    description="Containers do not run privileged",
    applies_to_dev=True,
    resource_types=TASK_DEFINITION,
    check=_each_container(_privileged),
)


def _writable_root(container: Mapping[str, Any]) -> str | None:
    value = container.get("readonlyRootFilesystem")
    if value is True:
        return None
    return (
        f'has "readonlyRootFilesystem": {show(value)}; set "readonlyRootFilesystem": true '
        '(writable paths as task volumes + "mountPoints")'
    )


ECS_5_READ_ONLY_ROOT = ResourceRule(
    id="ecs-5-read-only-root",
    control="ECS.5",
    description="Every container has a read-only root filesystem",
    applies_to_dev=True,
    resource_types=TASK_DEFINITION,
    check=_each_container(_writable_root),
)


def _credentials_in_environment(container: Mapping[str, Any]) -> str | None:
    names = [entry.get("name") for entry in container.get("environment") or [] if isinstance(entry, Mapping)]
    # Only the names go into the message: the values may be the very secrets.
    leaked = [n for n in names if isinstance(n, str) and any(part in n.upper() for part in CREDENTIAL_NAME_PARTS)]
    if not leaked:
        return None
    return f'has AWS credentials in "environment": {leaked!r}; remove them: use the task role, or "secrets"'


ECS_8_NO_CREDENTIALS_IN_ENVIRONMENT = ResourceRule(
    id="ecs-8-no-credentials-in-environment",
    control="ECS.8",
    description="No AWS credentials in container environment variables",
    applies_to_dev=True,
    resource_types=TASK_DEFINITION,
    check=_each_container(_credentials_in_environment),
)


def _no_log_configuration(container: Mapping[str, Any]) -> str | None:
    if value_at(container, "logConfiguration.logDriver"):
        return None
    return (
        f'has "logConfiguration": {show(container.get("logConfiguration"))}; set "logConfiguration": '
        '{"logDriver": "awslogs", "options": {...}}'
    )


ECS_9_LOG_CONFIGURATION = ResourceRule(
    id="ecs-9-log-configuration",
    control="ECS.9",
    description="Every container has a log configuration",
    applies_to_dev=True,
    resource_types=TASK_DEFINITION,
    check=_each_container(_no_log_configuration),
)


def _root_user(container: Mapping[str, Any]) -> str | None:
    user = container.get("user")
    if isinstance(user, str) and user.split(":")[0] not in ("", "root", "0"):
        return None
    return f'runs as "user": {show(user)} (root); set "user": "<uid>:<gid>" of an unprivileged user, e.g. "101:101"'


ECS_20_NON_ROOT_USER = ResourceRule(
    id="ecs-20-non-root-user",
    control="ECS.20",
    description="Every container runs as a non-root user",
    applies_to_dev=True,
    resource_types=TASK_DEFINITION,
    check=_each_container(_root_user),
)


def _container_insights(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    settings = as_list(value_at(props, "settings"))
    if settings is UNKNOWN:
        return []
    values = [value_at(s, "value") for s in settings if value_at(s, "name") in ("containerInsights", UNKNOWN)]
    if any(v in ("enabled", "enhanced", UNKNOWN) for v in values):
        return []
    return [
        f"containerInsights is {show(values[0] if values else None)}; set "
        'settings=[{"name": "containerInsights", "value": "enabled"}] on the aws.ecs.Cluster'
    ]


ECS_12_CONTAINER_INSIGHTS = ResourceRule(
    id="ecs-12-container-insights",
    control="ECS.12",
    description="ECS clusters have Container Insights enabled",
    applies_to_dev=False,  # optional in dev, which turns it off to stay under $37 a month
    resource_types=ECS_CLUSTER,
    check=_container_insights,
)


def _shared_role(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    execution, task = value_at(props, "executionRoleArn"), value_at(props, "taskRoleArn")
    if isinstance(execution, str) and execution and execution == task:
        return [
            f"executionRoleArn and taskRoleArn are the same role {execution!r}; set task_role_arn to a role of its "
            "own, without the execution role's ECR and logs permissions"
        ]
    return []


ECS_SEPARATE_TASK_ROLE = ResourceRule(
    id="ecs-separate-task-role",
    control="Good practice",
    description="The task role differs from the execution role",
    applies_to_dev=True,
    resource_types=TASK_DEFINITION,
    check=_shared_role,
)


ECS_2_NO_PUBLIC_IP = ResourceRule(
    id="ecs-2-no-public-ip",
    control="ECS.2",
    description="ECS services do not assign public IPs to tasks",
    # dev's replicas are IPv6-only too: no task has a public IPv4 address (a dev set to replicaAddressing ipv4
    # without NAT needs one, and then turns this rule off in policy/dev.json).
    applies_to_dev=True,
    resource_types=ECS_SERVICE,
    check=value_check(
        "networkConfiguration.assignPublicIp",
        lambda v: v is not True,
        "network_configuration.assign_public_ip=False (IPv6-only replicas, or IPv4 ones behind a NAT gateway)",
    ),
)


ECS_3_NO_HOST_PID = ResourceRule(
    id="ecs-3-no-host-pid",
    control="ECS.3",
    description="Task definitions do not share the host's process namespace",
    applies_to_dev=True,
    resource_types=TASK_DEFINITION,
    check=value_check("pidMode", lambda v: v != "host", "nothing: leave pid_mode unset"),
)


ECS_10_LATEST_PLATFORM = ResourceRule(
    id="ecs-10-latest-platform",
    control="ECS.10",
    description="Fargate services run the latest platform version",
    applies_to_dev=True,
    resource_types=ECS_SERVICE,
    check=value_check(
        "platformVersion", lambda v: v in (None, "LATEST"), 'platform_version="LATEST" (or leave it unset)'
    ),
)


ECS_17_NO_HOST_NETWORK = ResourceRule(
    id="ecs-17-no-host-network",
    control="ECS.17",
    description="Task definitions do not use host network mode",
    applies_to_dev=True,
    resource_types=TASK_DEFINITION,
    check=value_check("networkMode", lambda v: v != "host", 'network_mode="awsvpc"'),
)


def _shifting_services(resources: Sequence[PlannedResource]) -> list[PlannedResource]:
    return [
        r
        for r in resources
        if r.type in ECS_SERVICE and value_at(r.props, "deploymentConfiguration.strategy") in SHIFTING_STRATEGIES
    ]


def _rollback_alarm(resources: Sequence[PlannedResource]) -> list[str]:
    alarms = [r for r in resources if r.type == METRIC_ALARM]
    messages = []
    for service in _shifting_services(resources):
        enable, rollback = value_at(service.props, "alarms.enable"), value_at(service.props, "alarms.rollback")
        # An alarm of this stack, named by value or by dependency (a preview: names unknown).
        names = as_list(value_at(service.props, "alarms.alarmNames"))
        named = set(names) if names is not UNKNOWN else set()
        watched = [
            a
            for a in alarms
            if named & identifiers(a, "name") or refers_to(service, "alarms", frozenset(), frozenset({a.urn}))
        ]
        if enable in (True, UNKNOWN) and rollback in (True, UNKNOWN) and watched:
            continue
        strategy = value_at(service.props, "deploymentConfiguration.strategy")
        messages.append(
            f"service {label(service)} deploys {strategy} with alarms.enable={show(enable)}, "
            f"rollback={show(rollback)} and {len(watched)} alarm(s) of this stack; set alarms={{alarm_names: [...], "
            "enable: True, rollback: True}} naming an aws.cloudwatch.MetricAlarm on the target groups' 5xx and "
            "unhealthy hosts"
        )
    return messages


ECS_SHIFTING_DEPLOY_ROLLBACK_ALARM = StackRule(
    id="ecs-shifting-deploy-rollback-alarm",
    control="Good practice",
    description="A blue/green, linear or canary deploy rolls back on an alarm of this stack",
    applies_to_dev=True,
    check=_rollback_alarm,
)


def _trusts_ecs(role: PlannedResource) -> bool:
    """A role ECS itself assumes (ecs.amazonaws.com), not the tasks' (ecs-tasks.amazonaws.com)."""
    raw = value_at(role.props, "assumeRolePolicy")
    try:
        document = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return False
    statements = as_list(value_at(document, "Statement")) if isinstance(document, Mapping) else []
    return statements is not UNKNOWN and any(
        "ecs.amazonaws.com" in (services if isinstance(services, list) else [services])
        for statement in statements
        if isinstance(statement, Mapping)
        for services in [value_at(statement, "Principal.Service")]
    )


def _infrastructure_role(resources: Sequence[PlannedResource]) -> list[str]:
    messages = []
    for role in (r for r in resources if r.type == IAM_ROLE and _trusts_ecs(r)):
        for key in ("inlinePolicies", "managedPolicyArns"):
            if as_list(value_at(role.props, key)) not in ([], UNKNOWN):
                messages.append(
                    f"role {label(role)} trusted by ECS has {key}; leave it unset, attach only the policy below"
                )
        ids = identifiers(role, "name")
        for grant in (
            r for r in resources if r.type in ROLE_GRANTS and refers_to(r, "role", ids, frozenset({role.urn}))
        ):
            policy = value_at(grant.props, "policyArn")
            if grant.type == ROLE_POLICY_ATTACHMENT and (
                policy is UNKNOWN or (isinstance(policy, str) and policy.endswith(LOAD_BALANCER_INFRASTRUCTURE_POLICY))
            ):
                continue
            if grant.type == ROLE_POLICY and _invokes_functions_only(value_at(grant.props, "policy")):
                continue
            messages.append(
                f"role {label(role)} trusted by ECS is granted more by {label(grant)} (policyArn {show(policy)}); "
                f"attach only arn:<partition>{LOAD_BALANCER_INFRASTRUCTURE_POLICY}, or an inline policy allowing"
                " lambda:InvokeFunction on named functions (its deploy hooks)"
            )
    return messages


def _invokes_functions_only(raw: Any) -> bool:
    """An inline policy that lets ECS call its lifecycle hooks and nothing else: every statement allows
    lambda:InvokeFunction on functions named in full (ECS developer guide, "Permissions required for Lambda
    functions in Amazon ECS blue/green deployments"). Not known yet (a preview): taken as it will be."""
    if raw is UNKNOWN:
        return True
    try:
        document = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return False
    statements = as_list(value_at(document, "Statement")) if isinstance(document, Mapping) else []
    if statements is UNKNOWN or not statements:
        return False
    for statement in statements:
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            return False
        actions = statement.get("Action")
        resources = statement.get("Resource")
        actions = actions if isinstance(actions, list) else [actions]
        resources = resources if isinstance(resources, list) else [resources]
        if actions != ["lambda:InvokeFunction"] or not all(
            isinstance(arn, str) and ":lambda:" in arn and ":function:" in arn and "*" not in arn for arn in resources
        ):
            return False
    return True


ECS_INFRASTRUCTURE_ROLE_LEAST_PRIVILEGE = StackRule(
    id="ecs-infrastructure-role-least-privilege",
    control="Good practice",
    description=(
        "A role ECS assumes holds only AWS's managed policy for load balancers, and the invoking of its deploy hooks"
    ),
    applies_to_dev=True,
    check=_infrastructure_role,
)
