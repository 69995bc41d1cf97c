"""The event ECS sends a Lambda lifecycle hook, read strictly (docs/deploy-hook.md, "The payload").

AWS's shape (ECS developer guide, "Lambda hooks for Amazon ECS service deployments"): `executionId`,
`lifecycleStage`, `resourceArn` (the service deployment), `executionDetails` with `serviceArn`,
`targetServiceRevisionArn` (green) and `testTrafficWeights` / `productionTrafficWeights` (revision ARN ->
percent), and `hookDetails`: the hook's settings from the service definition, merged with what the hook
returned at its last IN_PROGRESS. Anything else is a MalformedPayload naming what is wrong: an exception
would make ECS roll back with no reason anyone can read.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from verify.core.numbers import BadNumber, read_number

# botocore's ECS model, DeploymentLifecycleHookStage: every stage a hook may be configured at.
HOOK_STAGES = (
    "RECONCILE_SERVICE",
    "PRE_SCALE_UP",
    "POST_SCALE_UP",
    "TEST_TRAFFIC_SHIFT",
    "POST_TEST_TRAFFIC_SHIFT",
    "PRE_PRODUCTION_TRAFFIC_SHIFT",
    "PRODUCTION_TRAFFIC_SHIFT",
    "POST_PRODUCTION_TRAFFIC_SHIFT",
)
TEST_SHIFT = "TEST_TRAFFIC_SHIFT"
AFTER_TEST_SHIFT = "POST_TEST_TRAFFIC_SHIFT"
PRODUCTION_SHIFT = "PRODUCTION_TRAFFIC_SHIFT"
AFTER_PRODUCTION_SHIFT = "POST_PRODUCTION_TRAFFIC_SHIFT"
# The stages this hook judges, in ECS's order: the test traffic once it has moved, each production step,
# and the production traffic once it has all moved.
JUDGED_STAGES = (AFTER_TEST_SHIFT, PRODUCTION_SHIFT, AFTER_PRODUCTION_SHIFT)


def hook_stages(test_traffic: bool) -> list[str]:
    """The stages a deploy's hook is configured at: after the test traffic (with a test rule), each
    production step, after the production shift."""
    return [*([AFTER_TEST_SHIFT] if test_traffic else []), PRODUCTION_SHIFT, AFTER_PRODUCTION_SHIFT]


# A deploy's judgements share one alpha (Bonferroni): an even deploy is rolled back by chance at most this
# often. verify's own alpha. Green may fail at most GREEN_ERROR_RATE of its requests (verify's
# --max-error-rate). A stage's measurement may go on over calls for STAGE_SECONDS: a canary of 0.1 % needs
# about 300,000 requests.
DEPLOY_ALPHA = 0.01
GREEN_ERROR_RATE = 0.01
STAGE_SECONDS = 900.0

# hookDetails: the hook's settings under one key (the service definition gives them), its progress under
# another (it returns that with IN_PROGRESS; ECS merges it back in on the next call).
SETTINGS_KEY = "verify"
PROGRESS_KEY = "verifyProgress"

# Bounds on what is read: a payload names two revisions (three while one deploy replaces a stopped one);
# ARNs are short. Anything past them is not what ECS sends.
_MAX_REVISIONS = 8
_MAX_TEXT = 2048
_MAX_SHARES = 100  # a linear:3 deploy has 34 steps
# arn:<partition>:ecs:<region>:<account>:service/<cluster>/<service> (the long ARN format, which every
# service revision ARN uses too: service-revision/<cluster>/<service>/<id>).
_ECS_ARN = r"^arn:(aws[a-z-]*):ecs:([a-z0-9-]+):([0-9]{12}):"
_NAME = r"([A-Za-z0-9_-]{1,255})"
_SERVICE_ARN = re.compile(_ECS_ARN + f"service/{_NAME}/{_NAME}$")
_REVISION_ARN = re.compile(_ECS_ARN + f"service-revision/{_NAME}/{_NAME}/([0-9A-Za-z]{{1,64}})$")
_RULE_ARN = re.compile(r"^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:listener-rule/app/\S{1,400}$")
# A header name is a token; its value here a short run of visible characters (no CR or LF to inject).
_HEADER_TEXT = re.compile(r"^[!-~]{1,128}$")
ALGORITHMS = ("round_robin", "least_outstanding_requests", "weighted_random")


class MalformedPayload(Exception):
    """The event is not what ECS sends, or the hook's settings are not what the stack gives it."""


@dataclass(frozen=True)
class HookSettings:
    """What the stack tells the hook (hookDetails["verify"]); the program writes it with `details()`."""

    url: str
    """Where the replicas are reached: the stack's url output."""
    production_rule_arn: str
    """The production listener rule ECS moves between the two target groups."""
    test_rule_arn: str | None
    """The test listener rule, or None without deploymentTestTraffic."""
    test_header: tuple[str, str] | None
    """The header and value the test rule routes on (X-Deploy-Test: green), with the test rule; else None."""
    green_shares: tuple[float, ...]
    """Green's production share after each step, in percent (DeploymentStrategy.green_shares)."""
    algorithm: str
    """The target groups' routing algorithm: the split is not judged for least_outstanding_requests."""
    alpha: float
    """Each judgement's significance level: the deploy's, split over the judgements (Bonferroni)."""
    green_error_rate: float
    """The largest fraction of green's requests that may fail: the bound on errors is this times green's share."""
    stage_seconds: float
    """How long one stage's measurement may take over all its calls before the hook gives up (FAILED)."""
    judge: bool = True
    """The stack's deploymentVerify: False, and the hook lets every stage through (SUCCEEDED) without measuring,
    and says so. The stack keeps the hook with deploymentVerify off rather than remove it, since ECS keeps a hook
    the provider stops sending (docs/configuration.md, "The deploy hook across changes"). @default True."""

    @classmethod
    def of_deploy(
        cls,
        *,
        url: str,
        production_rule_arn: str,
        test_rule: tuple[str, tuple[str, str]] | None,
        green_shares: tuple[float, ...],
        algorithm: str,
        alpha: float = DEPLOY_ALPHA,
        green_error_rate: float = GREEN_ERROR_RATE,
        stage_seconds: float = STAGE_SECONDS,
        judge: bool = True,
    ) -> HookSettings:
        """The settings of a deploy's hook: `test_rule` (its ARN and header) with test traffic, green's share
        after each step; `alpha`, the deploy's, is split over its judgements (hook_stages, one per step);
        `judge`: deploymentVerify."""
        judgements = len(hook_stages(test_rule is not None)) - 1 + len(green_shares)
        return cls(
            url=url,
            production_rule_arn=production_rule_arn,
            test_rule_arn=test_rule[0] if test_rule else None,
            test_header=test_rule[1] if test_rule else None,
            green_shares=green_shares,
            algorithm=algorithm,
            alpha=alpha / judgements,
            green_error_rate=green_error_rate,
            stage_seconds=stage_seconds,
            judge=judge,
        )

    def details(self) -> dict[str, Any]:
        """The settings as hookDetails carries them."""
        return {
            SETTINGS_KEY: {
                "url": self.url,
                "productionRule": self.production_rule_arn,
                "testRule": self.test_rule_arn,
                "testHeader": list(self.test_header) if self.test_header else None,
                "greenShares": list(self.green_shares),
                "algorithm": self.algorithm,
                "alpha": self.alpha,
                "greenErrorRate": self.green_error_rate,
                "stageSeconds": self.stage_seconds,
                "judge": self.judge,
            }
        }


@dataclass(frozen=True)
class Invocation:
    """One call of the hook, read."""

    stage: str
    execution_id: str
    service_arn: str
    cluster: str
    service: str
    green: str
    """The target revision's ARN: what the deploy brings."""
    test_weights: dict[str, float]
    production_weights: dict[str, float]
    settings: HookSettings
    progress: dict[str, Any] | None
    """What the last IN_PROGRESS of this hook carried (verify.sources.hook.carry reads it), or None."""

    @property
    def green_id(self) -> str:
        """The revision's id, the last segment of its ARN: tasks name it in `startedBy` (ecs-svc/<id>)."""
        return self.green.rsplit("/", 1)[1]


def read_invocation(event: object) -> Invocation:
    """The event as an Invocation, or MalformedPayload saying what is wrong with it."""
    if not isinstance(event, Mapping):
        raise MalformedPayload(f"the event is {type(event).__name__}, not a JSON object")
    stage = _text(event, "lifecycleStage")
    if stage not in HOOK_STAGES:
        raise MalformedPayload(f"lifecycleStage {stage!r} is not a stage ECS calls hooks at ({', '.join(HOOK_STAGES)})")
    details = event.get("executionDetails")
    if not isinstance(details, Mapping):
        raise MalformedPayload("executionDetails is missing or not an object")
    service_arn = _text(details, "serviceArn", "executionDetails.")
    service = _SERVICE_ARN.match(service_arn)
    if service is None:
        raise MalformedPayload(
            f"executionDetails.serviceArn {service_arn[:200]!r} is not a service ARN of the long format"
            " (arn:aws:ecs:REGION:ACCOUNT:service/CLUSTER/SERVICE)"
        )
    green = _text(details, "targetServiceRevisionArn", "executionDetails.")
    _check_revision(green, service, "executionDetails.targetServiceRevisionArn")
    weights = {key: _weights(details, key, service) for key in ("testTrafficWeights", "productionTrafficWeights")}
    hook_details = _hook_details(event.get("hookDetails"))
    progress = hook_details.get(PROGRESS_KEY)
    return Invocation(
        stage=stage,
        execution_id=_text(event, "executionId"),
        service_arn=service_arn,
        cluster=service.group(4),
        service=service.group(5),
        green=green,
        test_weights=weights["testTrafficWeights"],
        production_weights=weights["productionTrafficWeights"],
        settings=_settings(hook_details.get(SETTINGS_KEY)),
        progress=progress if isinstance(progress, dict) else None,
    )


def _text(mapping: Mapping[str, Any], key: str, where: str = "") -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value or len(value) > _MAX_TEXT:
        raise MalformedPayload(f"{where}{key} is missing, empty, not text or over {_MAX_TEXT} characters")
    return value


def _check_revision(arn: str, service: re.Match[str], where: str) -> None:
    revision = _REVISION_ARN.match(arn)
    if revision is None:
        raise MalformedPayload(
            f"{where} {arn[:200]!r} is not a service revision ARN"
            " (arn:aws:ecs:REGION:ACCOUNT:service-revision/CLUSTER/SERVICE/ID)"
        )
    if revision.groups()[:5] != service.groups():
        raise MalformedPayload(f"{where} {arn[:200]!r} is not a revision of {service.group(0)!r}")


def _weights(details: Mapping[str, Any], key: str, service: re.Match[str]) -> dict[str, float]:
    """A weights map (revision ARN -> percent); absent or empty is no weights, as AWS's examples show."""
    value = details.get(key, {})
    if not isinstance(value, Mapping) or len(value) > _MAX_REVISIONS:
        raise MalformedPayload(f"executionDetails.{key} is not an object of at most {_MAX_REVISIONS} revisions")
    weights: dict[str, float] = {}
    for arn, weight in value.items():
        _check_revision(str(arn), service, f"a revision of executionDetails.{key}")
        weights[str(arn)] = _number(weight, 0, 100, f"executionDetails.{key}[...{str(arn)[-24:]}] {{}}")
    if weights and not math.isclose(sum(weights.values()), 100, abs_tol=0.01):
        raise MalformedPayload(f"executionDetails.{key} add up to {sum(weights.values()):g}, not 100")
    return weights


def _hook_details(value: object) -> dict[str, Any]:
    """hookDetails as an object: ECS passes the service definition's JSON object; a JSON text is read too."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise MalformedPayload("hookDetails is text that is not JSON") from None
    if not isinstance(value, dict):
        raise MalformedPayload(
            f"hookDetails is missing or not an object: the stack gives the hook its settings under {SETTINGS_KEY!r}"
        )
    return value


def _settings(value: object) -> HookSettings:
    if not isinstance(value, Mapping):
        raise MalformedPayload(f"hookDetails.{SETTINGS_KEY} is missing or not an object: the stack's settings")

    def number(key: str, low: float, high: float, *, above: bool = False) -> float:
        return _number(value.get(key), low, high, f"hookDetails.{SETTINGS_KEY}.{key} {{}}", above=above)

    url = _text(value, "url", f"hookDetails.{SETTINGS_KEY}.")
    production = _text(value, "productionRule", f"hookDetails.{SETTINGS_KEY}.")
    test = value.get("testRule")
    for key, rule in (("productionRule", production), ("testRule", test)):
        if rule is not None and (not isinstance(rule, str) or not _RULE_ARN.match(rule)):
            raise MalformedPayload(f"hookDetails.{SETTINGS_KEY}.{key} {str(rule)[:200]!r} is not a listener rule ARN")
    header = value.get("testHeader")
    if (test is None) != (header is None) or (
        header is not None
        and not (
            isinstance(header, list) and len(header) == 2 and all(_HEADER_TEXT.match(str(part)) for part in header)
        )
    ):
        raise MalformedPayload(
            f"hookDetails.{SETTINGS_KEY}.testHeader {str(header)[:100]!r} is not [NAME, VALUE] beside testRule"
        )
    shares = value.get("greenShares")
    if not isinstance(shares, list) or not 1 <= len(shares) <= _MAX_SHARES:
        raise MalformedPayload(f"hookDetails.{SETTINGS_KEY}.greenShares is not a list of 1 to {_MAX_SHARES} percents")
    green_shares = tuple(
        _number(share, 0, 100, f"hookDetails.{SETTINGS_KEY}.greenShares[{index}] {{}}", above=True)
        for index, share in enumerate(shares)
    )
    if list(green_shares) != sorted(green_shares) or green_shares[-1] != 100:
        raise MalformedPayload(f"hookDetails.{SETTINGS_KEY}.greenShares {list(green_shares)} do not rise to 100")
    # Absent: judged, as every hook's settings meant before deploymentVerify could keep the hook without judging.
    judge = value.get("judge", True)
    if not isinstance(judge, bool):
        raise MalformedPayload(f"hookDetails.{SETTINGS_KEY}.judge {str(judge)[:40]!r} is not true or false")
    algorithm = value.get("algorithm")
    if algorithm not in ALGORITHMS:
        allowed = ", ".join(ALGORITHMS)
        raise MalformedPayload(f"hookDetails.{SETTINGS_KEY}.algorithm {algorithm!r} is not one of {allowed}")
    return HookSettings(
        url=url,
        production_rule_arn=production,
        test_rule_arn=test,
        test_header=(str(header[0]), str(header[1])) if header is not None else None,
        green_shares=green_shares,
        algorithm=algorithm,
        alpha=number("alpha", 0, 0.5, above=True),
        green_error_rate=number("greenErrorRate", 0, 1),
        stage_seconds=number("stageSeconds", 0, 86_400, above=True),
        judge=judge,
    )


def _number(value: object, low: float, high: float, label: str, *, above: bool = False) -> float:
    """A number of the payload, read by verify's one number reader (type, finiteness, range). JSON's
    numbers only: ECS and the stack write numbers, so text here ("10") is not what they sent."""
    if isinstance(value, str):
        raise MalformedPayload(f"{label.format(repr(value[:40]))} is text, not a number")
    try:
        return float(read_number(value, low, high, whole=False, above=above, label=label))
    except BadNumber as error:
        raise MalformedPayload(str(error)) from None
