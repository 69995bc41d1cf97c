"""Deploy hook: verify as an ECS lifecycle hook that decides a blue-green, linear or canary deploy.

A Lambda function (Python, arm64) whose handler is `verify.hook.handler`, packaged from the repository
by the program (`components.lambda_package`: the modules the handler imports, nothing else), its own
role (its log group, and reading the service's tasks and the listener rules), a log group with
retention, and a role of its own for ECS to invoke it with (docs/deploy-hook.md, "Permissions"). The
service wires `lifecycle_hook(...)` into a shifting deploy's configuration, and `allow_reading(cluster)` once
its cluster exists.

The hook exists whatever the strategy and deploymentVerify: ECS keeps a lifecycle hook the provider stops
sending (terraform-provider-aws sends the list only when it is not empty), so a hook once configured may be
called at any later shifting deploy; its function and role must outlive every configuration that named them.
With deploymentVerify off the hook is still configured, told not to judge: it answers SUCCEEDED and its line
says "deploymentVerify is off: not judged" (docs/configuration.md, "The deploy hook across changes").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.aws_limits import deploy_hook_log_group
from components.errors import SettingsError
from components.lambda_package import handler_files
from components.options import TEST_HEADER, DeploymentStrategy
from verify.hook import CALL_TIMEOUT_S
from verify.sources.hook.payload import DEPLOY_ALPHA, GREEN_ERROR_RATE, STAGE_SECONDS, HookSettings, hook_stages

HANDLER = "verify.hook.handler"
# Lambda's Python runtime this project's code runs on (3.11 or later, docs: Prerequisites); AWS supports
# it to 2029 (AWS Lambda developer guide, "Lambda runtimes").
RUNTIME = "python3.13"
# A call's timeout: at most ECS's 15 minutes for a hook's answer (docs/deploy-hook.md, "Time"), at least a
# minute, since a call keeps verify.hook.MARGIN_S for judging and answering. Memory: Lambda's 128 to 10,240 MB
# (components/aws_limits.py).
TIMEOUT_RANGE = (60, 900)
MEMORY_RANGE = (128, 10_240)


@dataclass(frozen=True)
class DeployHookArgs:
    url: pulumi.Input[str]
    """Where the replicas are reached: the stack's url."""
    source_dir: Path
    """The folder the handler's package is built from: the project's root, where `verify/` lives (the
    program passes its own; a component does not guess where it was checked out)."""
    algorithm: str = "round_robin"
    """The target groups' routing algorithm. @default "round_robin"."""
    log_retention_days: int = 7
    """Days the hook's decisions are kept in its log group. @default 7."""
    alpha: float = DEPLOY_ALPHA
    """How often, at most, an even deploy is rolled back by chance: each judgement gets this over the
    number of judgements (Bonferroni). @default 0.01, verify's own alpha."""
    green_error_rate: float = GREEN_ERROR_RATE
    """The largest fraction of green's requests that may fail. @default 0.01, verify's --max-error-rate."""
    stage_seconds: float = STAGE_SECONDS
    """How long one stage's measurement may take over all its calls, then FAILED. @default 900: a canary of
    0.1 % needs about 300,000 requests."""
    timeout_seconds: int = CALL_TIMEOUT_S
    """One call's timeout (60 to 900); a longer measurement goes on in the next call. @default 300."""
    memory_mb: int = 1024
    """Memory, and with it CPU, of each call (128 to 10,240). @default 1024: verify's threads send faster."""


class DeployHook(pulumi.ComponentResource):
    """The hook's function, roles and log group. Exposes `function`, `role`, `log_group`, `invoke_role`,
    `invoke_policy`, and `lifecycle_hook(...)` for a shifting deploy's configuration."""

    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    invoke_role: aws.iam.Role
    invoke_policy: aws.iam.RolePolicy

    def __init__(self, name: str, args: DeployHookArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        for key, value, (low, high) in (
            ("timeout_seconds", args.timeout_seconds, TIMEOUT_RANGE),
            ("memory_mb", args.memory_mb, MEMORY_RANGE),
        ):
            if not low <= value <= high:
                raise SettingsError(f"{value}; allowed: {low} to {high}", argument=key)
        super().__init__("alb-replicas:deploy_hook:DeployHook", name, None, opts)
        child_opts = pulumi.ResourceOptions(parent=self)
        invoke_opts = pulumi.InvokeOutputOptions(parent=self)
        self._args = args
        self._account = aws.get_caller_identity_output(opts=invoke_opts).account_id
        self._region = aws.get_region_output(opts=invoke_opts).region
        self._partition = aws.get_partition_output(opts=invoke_opts).partition
        self._name = name

        # Named by the program: the function's logging_config names it, and it is known in a first preview.
        log_group_name = deploy_hook_log_group(name)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-deploy-hook", name=log_group_name, retention_in_days=args.log_retention_days, opts=child_opts
        )
        self.role = aws.iam.Role(
            f"{name}-hook",
            description="The deploy hook's own identity: its log group, the service's tasks, the listener rules",
            assume_role_policy=json.dumps(_trust("lambda.amazonaws.com")),
            opts=child_opts,
        )
        log_policy = aws.iam.RolePolicy(
            f"{name}-hook-logs",
            role=self.role.id,
            policy=self.log_group.arn.apply(
                lambda arn: json.dumps(_policy(["logs:CreateLogStream", "logs:PutLogEvents"], f"{arn}:*"))
            ),
            opts=child_opts,
        )
        root = args.source_dir
        archive = pulumi.AssetArchive(
            {path: pulumi.FileAsset(str(root / path)) for path in handler_files(HANDLER, root)}
        )
        self.function = aws.lambda_.Function(
            f"{name}-deploy-hook",
            description="verify judges each stage of a blue-green, linear or canary deploy (ECS lifecycle hook)",
            runtime=RUNTIME,
            architectures=["arm64"],
            handler=HANDLER,
            code=archive,
            role=self.role.arn,
            timeout=args.timeout_seconds,
            memory_size=args.memory_mb,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=log_group_name),
            # Its role may write its logs before its first call (IAM's policy comes after the role).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_policy, self.log_group]),
        )

        self.invoke_role = aws.iam.Role(
            f"{name}-hook-invoke",
            description="ECS calls the deploy hook at each stage of a deploy",
            assume_role_policy=self._account.apply(lambda account: json.dumps(_trust("ecs.amazonaws.com", account))),
            opts=child_opts,
        )
        self.invoke_policy = aws.iam.RolePolicy(
            f"{name}-hook-invoke",
            role=self.invoke_role.id,
            policy=self.function.arn.apply(lambda arn: json.dumps(_policy(["lambda:InvokeFunction"], arn))),
            opts=child_opts,
        )
        self.register_outputs({"function_arn": self.function.arn, "log_group_name": self.log_group.name})

    def lifecycle_hook(
        self,
        deployment: DeploymentStrategy,
        production_listener_rule_arn: pulumi.Input[str],
        test_listener_rule_arn: pulumi.Input[str] | None = None,
    ) -> aws.ecs.ServiceDeploymentConfigurationLifecycleHookArgs:
        """The hook in a shifting deploy's configuration: at its stages (hook_stages), with what it judges
        (`deployment`'s steps, the rules), judging exactly when `deployment.hook` (deploymentVerify). SettingsError
        for a rolling deployment, or a test rule given other than with test traffic."""
        if not deployment.shifts_traffic:
            raise SettingsError(
                f"{deployment.kind} has no stages to judge; allowed: blue-green, linear, canary", argument="deployment"
            )
        if deployment.test_traffic != (test_listener_rule_arn is not None):
            raise SettingsError("a test listener rule exactly with test traffic", argument="test_listener_rule_arn")
        args = self._args
        details = pulumi.Output.all(args.url, production_listener_rule_arn, test_listener_rule_arn).apply(
            lambda values: json.dumps(
                HookSettings.of_deploy(
                    url=values[0],
                    production_rule_arn=values[1],
                    test_rule=(values[2], TEST_HEADER) if values[2] else None,
                    green_shares=tuple(deployment.green_shares()),
                    algorithm=args.algorithm,
                    alpha=args.alpha,
                    green_error_rate=args.green_error_rate,
                    stage_seconds=args.stage_seconds,
                    judge=deployment.hook,
                ).details()
            )
        )
        return aws.ecs.ServiceDeploymentConfigurationLifecycleHookArgs(
            hook_target_arn=self.function.arn,
            role_arn=self.invoke_role.arn,
            lifecycle_stages=hook_stages(deployment.test_traffic),
            hook_details=details,
        )

    def allow_reading(self, cluster: aws.ecs.Cluster, opts: pulumi.ResourceOptions) -> aws.iam.RolePolicy:
        """Let the hook read the cluster's service and tasks and the listener rules: what a stage's
        judgement rests on. Declared by the service once its cluster exists, before the service."""
        document = pulumi.Output.all(cluster.arn, cluster.name, self._partition, self._region, self._account).apply(
            lambda values: json.dumps(_reading_policy(*values))
        )
        return aws.iam.RolePolicy(f"{self._name}-hook-reads", role=self.role.id, policy=document, opts=opts)


def _trust(service: str, account: str | None = None) -> dict:
    """A role `service` may assume; for ECS, on this account's behalf only (the confused-deputy condition)."""
    statement: dict = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if account is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": account}}
    return {"Version": "2012-10-17", "Statement": [statement]}


def _policy(actions: list[str], resource: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}


def _reading_policy(cluster_arn: str, cluster: str, partition: str, region: str, account: str) -> dict:
    """IAM's Service Authorization Reference: ListTasks is scoped by the ecs:cluster condition (its resource
    type is the container instance), DescribeTasks and DescribeServices by their tasks and services' ARNs;
    ELBv2's DescribeRules and DescribeTargetHealth take no resource-level permission ("*")."""
    ecs = f"arn:{partition}:ecs:{region}:{account}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "ecs:ListTasks",
                "Resource": "*",
                "Condition": {"ArnEquals": {"ecs:cluster": cluster_arn}},
            },
            {"Effect": "Allow", "Action": "ecs:DescribeTasks", "Resource": f"{ecs}:task/{cluster}/*"},
            {"Effect": "Allow", "Action": "ecs:DescribeServices", "Resource": f"{ecs}:service/{cluster}/*"},
            {
                "Effect": "Allow",
                "Action": ["elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTargetHealth"],
                "Resource": "*",
            },
        ],
    }
