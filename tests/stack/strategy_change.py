"""What a `pulumi up` that changes deploymentStrategy does to ECS and the load balancer, step by step.

Three parts, each from its source:

- `update_service_request`: the UpdateService request terraform-provider-aws (internal/service/ecs/service.go,
  which pulumi-aws bridges) sends for the service's declared inputs against the state it read back from ECS.
  `alarms` has DiffSuppressFunc SuppressMissingOptionalConfigurationBlock: a block left out is no change.
  `deployment_configuration` is Optional and Computed, and so are its `strategy`, `bake_time_in_minutes`,
  `linear_configuration` and `canary_configuration`: what is left out keeps the state's value; on a change the
  provider sends the strategy with the bake minutes, the linear block only for LINEAR, the canary block only for
  CANARY, and the lifecycle hooks only when there are some (`len(hooks) > 0`). `load_balancer` is a set, sent
  whole when it changed. `force_new_deployment` is sent as declared.
- `Ecs`: the service as ECS records it and the load balancer around it. UpdateService replaces what the request
  carries; the forced deployment then runs by the service's (new) strategy. Rolling (ECS API reference,
  UpdateService's loadBalancers): new tasks registered in every target group of the service, then the old
  stopped. Shifting (ECS developer guide, "Amazon ECS blue/green service deployments workflow"): green registered
  in the group production is not on, the test rule moved to it, the production rule moved step by step, blue
  stopped; ECS then records the groups swapped (what DescribeServices returns and the provider reads back). A
  shifting strategy on a load balancer without its advanced configuration, or naming a rule or role that does
  not exist, is refused.
  Lifecycle hooks: a request that carries `lifecycleHooks` replaces ECS's list; one whose deploymentConfiguration
  leaves them out keeps it (`hooks_left_out` "kept": what terraform-provider-aws PR #47096 reports ECS does, and
  the worst case; no AWS page says: docs/configuration.md, "The deploy hook across changes") or, to show the
  program does not rely on either, clears it ("cleared"). A shifting deploy calls each hook at the stages it is
  configured for, in ECS's order: after the test traffic shift, at each production step, after the production
  shift (the workflow page; a rolling deploy passes none of these stages). A hook whose function or role is gone,
  or that answers FAILED, rolls the deploy back (ECS developer guide, "Lifecycle hooks for Amazon ECS service
  deployments": "If a hookStatus is not returned, or if the function fails, the deployment rolls back"). What a
  hook answers is the handler's own (verify.hook.decide) when it needs no AWS call; a hook that calls ECS or
  ELBv2 is judging, and then fails if a listener rule it reads is gone (DescribeRules: RuleNotFound).
- `pulumi_up`: Pulumi's order: resources new in the program are created first, then the service is updated
  (`wait_for_steady_state`: the update returns once the deploy is done), then what the program no longer
  declares is deleted (docs/configuration.md, "Changing the deployment strategy"). Every `pulumi up` here
  deploys (a new image, say: the task definition the model leaves out), and the program reads the production
  rule as ECS left it (the mocks' `live_rules`, from `Ecs.rules`).

A shifting deploy must put green in a group production is not on (ECS developer guide: the new revision in the
alternate group while blue serves): `Ecs.check_green` fails one that would not.

After every event `Ecs.check` asserts that each target group the listener sends production requests to holds
targets (a group of weight above 0 in the production rule, or, without that rule, the listener's default group),
and that every lifecycle hook ECS holds names a function and a role that exist.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from components.options import ECS_STRATEGY, DeploymentStrategy
from tests.hook_payloads import event as hook_event
from tests.stack.harness import Deployment
from verify.hook import Clients, decide
from verify.sources.hook.payload import AFTER_PRODUCTION_SHIFT, AFTER_TEST_SHIFT, PRODUCTION_SHIFT, read_invocation

SERVICE = "aws:ecs/service:Service"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
SHIFTING = ("BLUE_GREEN", "LINEAR", "CANARY")
# The Optional and Computed attributes of the provider's deployment_configuration block.
_COMPUTED = ("strategy", "bakeTimeInMinutes", "linearConfiguration", "canaryConfiguration")


def _balancers(value: list[dict[str, Any]] | None) -> list[str]:
    """A load_balancer set compared as the provider compares it: order aside."""
    return sorted(repr(sorted(balancer.items())) for balancer in value or [])


def plan_deployment_configuration(state: dict[str, Any] | None, declared: dict[str, Any] | None) -> dict[str, Any]:
    """The provider's planned deployment_configuration: a block left out keeps the state's; a block given takes
    the state's value for every Computed attribute it leaves out, and its own lifecycle hooks (not Computed)."""
    state = state or {}
    if declared is None:
        return copy.deepcopy(state)
    planned = {key: copy.deepcopy(declared.get(key, state.get(key))) for key in _COMPUTED}
    planned["lifecycleHooks"] = copy.deepcopy(declared.get("lifecycleHooks") or [])
    return {key: value for key, value in planned.items() if value not in (None, [])}


def update_service_request(state: dict[str, Any], declared: dict[str, Any]) -> dict[str, Any]:
    """What the provider sends to UpdateService for `declared` (the service's inputs) against `state`."""
    request: dict[str, Any] = {"forceNewDeployment": bool(declared.get("forceNewDeployment"))}
    configuration: dict[str, Any] = {}
    if declared.get("alarms") is not None and declared["alarms"] != state.get("alarms"):
        configuration["alarms"] = copy.deepcopy(declared["alarms"])
    planned = plan_deployment_configuration(
        state.get("deploymentConfiguration"), declared.get("deploymentConfiguration")
    )
    if planned != (state.get("deploymentConfiguration") or {}):
        strategy = planned.get("strategy")
        if strategy:
            configuration["strategy"] = strategy
            if planned.get("bakeTimeInMinutes") is not None:
                configuration["bakeTimeInMinutes"] = planned["bakeTimeInMinutes"]
            if strategy == "LINEAR" and planned.get("linearConfiguration"):
                configuration["linearConfiguration"] = planned["linearConfiguration"]
            if strategy == "CANARY" and planned.get("canaryConfiguration"):
                configuration["canaryConfiguration"] = planned["canaryConfiguration"]
        if planned.get("lifecycleHooks"):
            configuration["lifecycleHooks"] = planned["lifecycleHooks"]
    if configuration:
        request["deploymentConfiguration"] = configuration
    if _balancers(declared.get("loadBalancers")) != _balancers(state.get("loadBalancers")):
        request["loadBalancers"] = copy.deepcopy(declared["loadBalancers"])
    return request


class Refused(Exception):
    """ECS refused the UpdateService request: `pulumi up` fails there, and deletes nothing."""


@dataclass(frozen=True)
class HookCall:
    """ECS calling a lifecycle hook at one stage of a deploy, and its answer."""

    revision: int
    stage: str
    function: str
    judged: bool
    """The hook read ECS and ELBv2 to judge the stage; False: it answered without an AWS call."""
    status: str
    reason: str


class _Judging(Exception):
    """The hook called ECS or ELBv2: it judges the stage (the model answers for the load balancer)."""


class _Reads:
    """ECS's and ELBv2's readers for a hook's call: the first call shows the hook judges (verify.hook.decide
    catches the exception, the model notes the call)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, operation: str) -> Any:
        def call(**_params: Any) -> dict[str, Any]:
            self.calls.append(operation)
            raise _Judging(operation)

        return call


@dataclass
class Ecs:
    """The service as ECS records it, the targets of each group and the rules' forwards."""

    primary: str
    """The group the listener's default action forwards to (the stack's `target_group`)."""
    hooks_left_out: Literal["kept", "cleared"] = "kept"
    """What UpdateService does with the service's lifecycle hooks when its deploymentConfiguration leaves them
    out (see the module's docstring)."""
    record: dict[str, Any] = field(default_factory=dict)
    """What DescribeServices returns: loadBalancers, deploymentConfiguration (with its alarms), as inputs name them."""
    rules: dict[str, dict[str, int]] = field(default_factory=dict)
    """Listener rule ARN -> its forward weights (group ARN -> weight)."""
    targets: dict[str, set[int]] = field(default_factory=dict)
    """Target group ARN -> the revisions registered in it."""
    resources: set[str] = field(default_factory=set)
    """The ARNs and names of what exists now (rules, roles, functions, alarms)."""
    production_rule: str | None = None
    revision: int = 0
    events: list[str] = field(default_factory=list)
    rollbacks: list[str] = field(default_factory=list)
    hook_calls: list[HookCall] = field(default_factory=list)

    # --- the load balancer ---------------------------------------------------------------------------------

    def production_groups(self) -> list[str]:
        if self.production_rule in self.rules:
            return [group for group, weight in self.rules[self.production_rule].items() if weight > 0]
        return [self.primary]

    def check(self, event: str) -> None:
        self.events.append(event)
        if not self.record:
            return  # no service yet: nothing is served
        for group in self.production_groups():
            assert self.targets.get(group), f"after {event!r}: production is sent to {group}, which has no targets"
        for hook in self.hooks():
            for key in ("hookTargetArn", "roleArn"):
                assert hook[key] in self.resources, f"after {event!r}: ECS holds a lifecycle hook whose {key} is gone"

    def check_green(self, group: str) -> None:
        assert group not in self.production_groups(), (
            f"green registered in {group.rsplit('/', 1)[-1]}, where production is: it gets production traffic at once"
        )

    # --- ECS -------------------------------------------------------------------------------------------------

    def hooks(self) -> list[dict[str, Any]]:
        return self.record.get("deploymentConfiguration", {}).get("lifecycleHooks", [])

    def create(self, declared: dict[str, Any]) -> None:
        self.record = {
            "loadBalancers": copy.deepcopy(declared["loadBalancers"]),
            "deploymentConfiguration": plan_deployment_configuration(None, declared.get("deploymentConfiguration")),
        }
        if declared.get("alarms") is not None:
            self.record["alarms"] = copy.deepcopy(declared["alarms"])
        self._validate()
        self.revision += 1
        for balancer in self.record["loadBalancers"]:
            self.targets.setdefault(balancer["targetGroupArn"], set()).add(self.revision)
        self.check("CreateService: the first tasks registered")

    def update(self, request: dict[str, Any]) -> None:
        before = copy.deepcopy(self.record)
        if "deploymentConfiguration" in request:
            configuration = request["deploymentConfiguration"]
            if "alarms" in configuration:
                self.record["alarms"] = configuration["alarms"]
            dc = self.record.setdefault("deploymentConfiguration", {})
            for key in _COMPUTED:
                if key in configuration:
                    dc[key] = configuration[key]
            if "lifecycleHooks" in configuration:
                dc["lifecycleHooks"] = configuration["lifecycleHooks"]
            elif self.hooks_left_out == "cleared":
                dc.pop("lifecycleHooks", None)
        if "loadBalancers" in request:
            self.record["loadBalancers"] = request["loadBalancers"]
        try:
            self._validate()
        except Refused:
            self.record = before
            raise
        if request["forceNewDeployment"] or "loadBalancers" in request:
            self._deploy()

    def _validate(self) -> None:
        strategy = self.record.get("deploymentConfiguration", {}).get("strategy", "ROLLING")
        if strategy not in SHIFTING:
            return
        for balancer in self.record["loadBalancers"]:
            advanced = balancer.get("advancedConfiguration")
            if not advanced:
                raise Refused(f"{strategy} on a load balancer without advancedConfiguration")
            for key in ("productionListenerRule", "roleArn", "testListenerRule"):
                if advanced.get(key) and advanced[key] not in self.resources:
                    raise Refused(f"{strategy}: {key} {advanced[key]} does not exist")
        alarms = self.record.get("alarms") or {}
        if alarms.get("enable"):
            missing = [name for name in alarms["alarmNames"] if name not in self.resources]
            assert not missing, f"ECS watches alarms that do not exist: {missing}"

    def _deploy(self) -> None:
        configuration = self.record["deploymentConfiguration"]
        strategy = configuration.get("strategy", "ROLLING")
        old = set(range(1, self.revision + 1))
        self.revision += 1
        if strategy not in SHIFTING:
            for balancer in self.record["loadBalancers"]:
                self.targets.setdefault(balancer["targetGroupArn"], set()).add(self.revision)
            self.check(f"rolling deploy: revision {self.revision} registered in every group of the service")
            self._stop(old, "rolling deploy: the old tasks stopped")
            return
        (balancer,) = self.record["loadBalancers"]
        advanced = balancer["advancedConfiguration"]
        blue_group, green_group = balancer["targetGroupArn"], advanced["alternateTargetGroupArn"]
        test_rule, production_rule = advanced.get("testListenerRule"), advanced["productionListenerRule"]
        self.check_green(green_group)
        self.targets.setdefault(green_group, set()).add(self.revision)
        self.check(f"{strategy} deploy: green registered in {green_group.rsplit('/', 1)[-1]}")
        if test_rule:
            self.rules[test_rule] = {blue_group: 0, green_group: 100}
            self.check(f"{strategy} deploy: {test_rule.rsplit('/', 1)[-1]} moved to green")
        failure = self._call_hooks(AFTER_TEST_SHIFT)
        for share in _green_shares(configuration) if failure is None else []:
            self.rules[production_rule] = {blue_group: 100 - round(share), green_group: round(share)}
            self.check(f"{strategy} deploy: {production_rule.rsplit('/', 1)[-1]} sends {share:g} % to green")
            failure = self._call_hooks(PRODUCTION_SHIFT, share)
            if failure is not None:
                break
        failure = failure or self._call_hooks(AFTER_PRODUCTION_SHIFT)
        if failure is not None:
            for rule in (test_rule, production_rule):
                if rule:
                    self.rules[rule] = {blue_group: 100, green_group: 0}
            self.rollbacks.append(failure)
            self._stop({self.revision}, f"{strategy} deploy rolled back: {failure}")
            self.revision -= 1
            return
        self._stop(old, f"{strategy} deploy: blue stopped after the bake")
        # ECS records the swap: green's group is the service's target group from now on.
        balancer["targetGroupArn"], advanced["alternateTargetGroupArn"] = green_group, blue_group

    def _call_hooks(self, stage: str, share: float | None = None) -> str | None:
        """Each hook configured at `stage`, called; the reason the deploy rolls back, or None."""
        for hook in self.hooks():
            if stage not in hook["lifecycleStages"]:
                continue
            function, role = hook["hookTargetArn"], hook["roleArn"]
            if function not in self.resources:
                return f"{stage}: the hook's function {function} is gone"
            if role not in self.resources:
                return f"{stage}: ECS cannot assume the hook's role {role}, which is gone"
            weights = {"green": share, "blue": 100 - share} if share is not None else {}
            payload = hook_event(stage, json.loads(hook["hookDetails"]), **weights)
            reads = _Reads()
            outcome = decide(payload, Clients(ecs=reads, elb=reads), remaining_s=60.0)
            judged = bool(reads.calls)
            status, reason = outcome.answer["hookStatus"], outcome.line["reason"]
            if judged:
                # What the judgement rests on: the rules it reads exist (the measuring is verify's, tested there).
                settings = read_invocation(payload).settings
                gone = [rule for rule in (settings.production_rule_arn, settings.test_rule_arn) if rule]
                gone = [rule for rule in gone if rule not in self.resources]
                status, reason = ("FAILED", f"DescribeRules: {gone[0]} not found") if gone else ("SUCCEEDED", "judged")
            self.hook_calls.append(HookCall(self.revision, stage, function, judged, status, reason))
            if status != "SUCCEEDED":
                return f"{stage}: the hook answered {status}: {reason}"
        return None

    def _stop(self, revisions: set[int], event: str) -> None:
        for registered in self.targets.values():
            registered -= revisions
        self.check(event)

    # --- what Pulumi creates and deletes besides the service -----------------------------------------------

    def created(self, resource: str, rule_weights: dict[str, int] | None = None) -> None:
        self.resources.add(resource)
        if rule_weights is not None:
            self.rules[resource] = rule_weights
        self.check(f"created {resource.rsplit('/', 1)[-1]}")

    def deleted(self, resource: str) -> None:
        self.resources.discard(resource)
        self.rules.pop(resource, None)
        self.check(f"deleted {resource.rsplit('/', 1)[-1]}")


_NAMED_BY_NAME = ("aws:cloudwatch/metricAlarm:MetricAlarm",)


def _green_shares(configuration: dict[str, Any]) -> list[float]:
    """Green's production share after each step ECS takes for the recorded strategy (the ECS developer guide's
    blue/green, linear and canary pages; components.options holds them)."""
    kind = next(kind for kind, name in ECS_STRATEGY.items() if name == configuration["strategy"])
    # The block of the strategy's own kind: ECS keeps the other's from an earlier strategy (the provider sends
    # only the one of the strategy it sends).
    percent = {
        "canary": (configuration.get("canaryConfiguration") or {}).get("canaryPercent"),
        "linear": (configuration.get("linearConfiguration") or {}).get("stepPercent"),
    }.get(kind)
    return DeploymentStrategy(kind, percent).green_shares()


def _identity(resource: Any) -> str:
    """How the service names a resource: by its ARN (a rule, a role, a function), an alarm by its name. The mocks
    make both from the resource's name, so the same resource has the same identity from run to run."""
    if resource.type in _NAMED_BY_NAME:
        return resource.outputs["name"]
    return resource.outputs.get("arn") or f"{resource.type}::{resource.name}"


def _existing(deployment: Deployment) -> dict[str, Any]:
    return {_identity(resource): resource for resource in deployment.resources}


def _rule_weights(rule: Any) -> dict[str, int]:
    (action,) = rule.inputs["actions"]
    return {group["arn"]: int(group["weight"]) for group in action["forward"]["targetGroups"]}


def pulumi_up(
    ecs: Ecs | None,
    before: Deployment | None,
    after: Deployment,
    hooks_left_out: Literal["kept", "cleared"] = "kept",
) -> tuple[Ecs, dict[str, Any] | None]:
    """`pulumi up` from `before` (None: an empty stack, and ECS made with `hooks_left_out`) to `after`: creations,
    the service, deletions. Returns ECS and the UpdateService request the provider sent (None for the service's
    creation)."""
    service = after.one(SERVICE).inputs
    old = _existing(before) if before is not None else {}
    new = _existing(after)
    if ecs is None:
        ecs = Ecs(primary=service["loadBalancers"][0]["targetGroupArn"], hooks_left_out=hooks_left_out)
    for identity, resource in new.items():
        if resource.type == LISTENER_RULE and resource.name.endswith("-production"):
            ecs.production_rule = identity
    for identity, resource in new.items():
        if identity not in old:
            ecs.created(identity, _rule_weights(resource) if resource.type == LISTENER_RULE else None)
    request = None
    if before is None:
        ecs.create(service)
    else:
        request = update_service_request(ecs.record, service)
        ecs.update(request)
    for identity in old:
        if identity not in new:
            ecs.deleted(identity)
    return ecs, request
