"""What one stage of the deploy must show, from the payload, ECS's tasks and the listener rules.

At `POST_TEST_TRAFFIC_SHIFT`, through the test rule (its header): every green task answers, no other
replica, evenly. At each `PRODUCTION_TRAFFIC_SHIFT` step, through the production rule: green's replicas
share green's weight, the old revision's the rest. At `POST_PRODUCTION_TRAFFIC_SHIFT`: green alone.
The weights are the payload's, held against the rule as ELBv2 reports it: AWS does not say whether ECS
has moved the rule when it calls the hook (docs/deploy-hook.md), so a rule still at the step before is
judged as it is, and a rule at any other share fails. A rollback (green's weight back to 0), a stage
the hook is not for and a hook told not to judge (deploymentVerify off) need no measuring: a Decision.
"""

from __future__ import annotations

from dataclasses import dataclass

from verify.core.errors import CouldNotMeasure
from verify.core.tally import TargetState
from verify.sources.hook.fleet import EcsReader, ElbReader, Fleet, RuleTarget, read_fleet, read_rule, target_address
from verify.sources.hook.payload import (
    AFTER_PRODUCTION_SHIFT,
    AFTER_TEST_SHIFT,
    JUDGED_STAGES,
    PRODUCTION_SHIFT,
    TEST_SHIFT,
    Invocation,
)

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
IN_PROGRESS = "IN_PROGRESS"
# Listener rule weights are whole numbers from 0 to 999 (ELBv2 API reference, TargetGroupTuple): a share
# the rule holds is a percent within 100/999 of the one set.
_SHARE_TOLERANCE = 100 / 999


@dataclass(frozen=True)
class Decision:
    """An outcome that needs no measuring, with its reason."""

    status: str
    reason: str


@dataclass(frozen=True)
class StagePlan:
    """What the stage must show when measured."""

    step: str
    """The stage as a person reads it: "production step 1 of 2 (10 % to green)"."""
    key: str
    """What an earlier call's measurement must have been of to be continued (stage, revision, share)."""
    header: tuple[tuple[str, str], ...]
    """Headers the measuring requests carry: the test header through the test rule, else none."""
    groups: tuple[tuple[tuple[str, ...], float], ...]
    """Replica ids (task addresses) and the percent of answers they share evenly; one group: an even split."""
    green_share: float
    """Green's share of what is measured, in percent."""
    max_error_rate: float
    """The largest fraction of the requests that may fail: green's error bound times its share."""
    target_health: tuple[TargetState, ...]
    """The replicas' targets as the load balancer's health checks see them."""
    notes: tuple[str, ...] = ()


# The reason a hook with deploymentVerify off gives for the SUCCEEDED it answers: a gate that passes what it did
# not measure says so.
NOT_JUDGED = "deploymentVerify is off: not judged"


def plan_stage(invocation: Invocation, ecs: EcsReader, elb: ElbReader) -> StagePlan | Decision:
    """The stage's plan, or the decision it needs no measuring for. CouldNotMeasure when a call fails."""
    if not invocation.settings.judge:
        return Decision(SUCCEEDED, NOT_JUDGED)
    stage = invocation.stage
    weights = invocation.test_weights if stage == TEST_SHIFT else invocation.production_weights
    back_to = [arn for arn, weight in weights.items() if arn != invocation.green and weight > 0]
    if stage in (TEST_SHIFT, PRODUCTION_SHIFT) and weights.get(invocation.green) == 0 and back_to:
        kind = "test" if stage == TEST_SHIFT else "production"
        return Decision(
            SUCCEEDED,
            f"ECS is rolling {kind} traffic back to revision {_id(back_to[0])}: nothing of green to judge, the"
            " rollback goes ahead",
        )
    if stage not in JUDGED_STAGES:
        return Decision(
            FAILED,
            f"ECS called the hook at {stage}, where it measures nothing; it judges {', '.join(JUDGED_STAGES)}:"
            " configure it at those stages only",
        )
    settings = invocation.settings
    fleet = read_fleet(ecs, invocation.cluster, invocation.service)
    running = len(fleet.ips(invocation.green_id, set()))
    if running != fleet.desired_count:
        return Decision(
            FAILED,
            f"green (revision {invocation.green_id}) runs {running} task(s) with an address where the service"
            f" wants {fleet.desired_count}",
        )
    if stage == AFTER_TEST_SHIFT and settings.test_rule_arn is None:
        return Decision(FAILED, "ECS called the hook after the test traffic shift, but the stack has no test rule")
    rule = read_rule(elb, settings.test_rule_arn if stage == AFTER_TEST_SHIFT else settings.production_rule_arn)
    # The replica ids: each task's address its target group holds (an IPv6-only task's is its IPv6 address).
    green = fleet.ips(invocation.green_id, set().union(*(group.ips() for group in rule)))
    if stage == AFTER_TEST_SHIFT:
        return _through_test_rule(invocation, rule, green)
    if stage == AFTER_PRODUCTION_SHIFT:
        return _through_production_rule(invocation, fleet, rule, green, set_share=100.0, previous=100.0)
    if invocation.green not in weights:
        return Decision(FAILED, f"productionTrafficWeights name no weight for green ({invocation.green_id})")
    share = weights[invocation.green]
    earlier = [step for step in settings.green_shares if step < share - _SHARE_TOLERANCE]
    return _through_production_rule(
        invocation, fleet, rule, green, set_share=share, previous=earlier[-1] if earlier else 0.0
    )


def _through_test_rule(
    invocation: Invocation, rule: tuple[RuleTarget, ...], green: tuple[str, ...]
) -> StagePlan | Decision:
    settings = invocation.settings
    rule_arn, header = settings.test_rule_arn or "", settings.test_header or ("", "")  # both set: HookSettings
    found = _group_of(rule, green, "green", rule_arn)
    if isinstance(found, Decision):
        return found
    share = _share(rule, found)
    if abs(share - 100) > _SHARE_TOLERANCE:
        return Decision(FAILED, f"the test rule sends {share:.3g} % of its requests to green's target group, not 100 %")
    return StagePlan(
        step="test traffic",
        key=f"{invocation.stage}/{invocation.green_id}",
        header=(header,),
        groups=((green, 100.0),),
        green_share=100.0,
        max_error_rate=settings.green_error_rate,
        target_health=_states(found, green),
    )


def _through_production_rule(
    invocation: Invocation,
    fleet: Fleet,
    rule: tuple[RuleTarget, ...],
    green: tuple[str, ...],
    *,
    set_share: float,
    previous: float,
) -> StagePlan | Decision:
    settings = invocation.settings
    registered = set().union(*(group.ips() for group in rule))
    green_group = _group_of(rule, green, "green", settings.production_rule_arn)
    if isinstance(green_group, Decision):
        return green_group
    held = _share(rule, green_group)
    notes: list[str] = []
    if abs(held - set_share) <= _SHARE_TOLERANCE:
        share = set_share
    elif abs(held - previous) <= _SHARE_TOLERANCE:
        # ECS calls the hook before it moves the rule: the step before is what the balancer does now.
        share = previous
        notes.append(
            f"the production rule still sends {held:.3g} % to green where this step sets {set_share:g} %: judged"
            " as the rule holds it (ECS had not moved it when it called the hook)"
        )
    else:
        return Decision(
            FAILED,
            f"the production rule sends {held:.3g} % of requests to green's target group where ECS set {set_share:g} %",
        )
    blue_revisions = [
        arn for arn, weight in invocation.production_weights.items() if arn != invocation.green and weight > 0
    ]
    blue = tuple(ip for arn in blue_revisions for ip in fleet.ips(_id(arn), registered))
    groups: tuple[tuple[tuple[str, ...], float], ...]
    health = _states(green_group, green) if share > 0 else ()
    if share >= 100 - _SHARE_TOLERANCE:
        groups = ((green, 100.0),)
    elif not blue_revisions:
        # No other revision in the weights: the service's first deploy. Whatever the rule sends elsewhere
        # reaches no replica, and counts as errors.
        groups = ((green, 100.0),)
        notes.append(f"no other revision runs: green's {share:g} % is all that reaches a replica")
    else:
        blue_group = _group_of(rule, blue, "the production revision", settings.production_rule_arn)
        if isinstance(blue_group, Decision):
            return blue_group
        health += _states(blue_group, blue)
        groups = ((green, share), (blue, 100 - share)) if share > 0 else ((blue, 100.0),)
    steps = settings.green_shares
    number = next((index for index, step in enumerate(steps, 1) if abs(step - set_share) <= _SHARE_TOLERANCE), None)
    if invocation.stage == AFTER_PRODUCTION_SHIFT:
        step = "after the production shift (100 % to green)"
    else:
        step = f"production step {number or '?'} of {len(steps)} ({set_share:g} % to green)"
    return StagePlan(
        step=step,
        key=f"{invocation.stage}/{invocation.green_id}/{set_share:g}",
        header=(),
        groups=groups,
        green_share=share,
        max_error_rate=settings.green_error_rate * (share if share > 0 else 100) / 100,
        target_health=health,
        notes=tuple(notes),
    )


def _group_of(rule: tuple[RuleTarget, ...], ips: tuple[str, ...], who: str, rule_arn: str) -> RuleTarget | Decision:
    """The rule's target group that holds every one of `ips`, or the Decision naming what is wrong."""
    if not ips:
        return Decision(FAILED, f"{who} runs no task with an address")
    for group in rule:
        if set(ips) <= group.ips():
            return group
    registered = set().union(*(group.ips() for group in rule)) if rule else set()
    missing = sorted(set(ips) - registered)
    return Decision(
        FAILED,
        f"no target group of rule {rule_arn.rsplit('/', 1)[-1]} holds every task of {who}"
        + (f"; not registered: {', '.join(missing[:5])}" if missing else "; they are split over its groups"),
    )


def _share(rule: tuple[RuleTarget, ...], group: RuleTarget) -> float:
    total = sum(target.weight for target in rule)
    if total <= 0:
        raise CouldNotMeasure("the listener rule's target groups all have weight 0")
    return 100 * group.weight / total


def _states(group: RuleTarget, ips: tuple[str, ...]) -> tuple[TargetState, ...]:
    """The group's targets that are these replicas, as its health checks see them."""
    return tuple(state for state in group.targets if target_address(state) in ips)


def _id(revision_arn: str) -> str:
    return revision_arn.rsplit("/", 1)[-1]
