"""The events ECS sends a Lambda lifecycle hook, one per stage, as AWS documents them.

Copied from the ECS developer guide, "Lambda hooks for Amazon ECS service deployments" ("Lifecycle stage
payloads" and "Lifecycle hooks during rollback"): green is revision 9313423515462893900, blue
1920498462936580504, the service my-service in my-cluster, us-west-2, account 123456789012. The tests of
the hook (tests/verify/test_verify_hook.py), the stack (tests/stack/test_deploy_hook.py) and the
rehearsal read the same events, with the stack's hookDetails added.
"""

from __future__ import annotations

import copy
from typing import Any

REGION = "us-west-2"
ACCOUNT = "123456789012"
CLUSTER = "my-cluster"
SERVICE = "my-service"
SERVICE_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service/{CLUSTER}/{SERVICE}"
DEPLOYMENT_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-deployment/{CLUSTER}/{SERVICE}/EZe5RNVLH6PPzHXINuP28"
GREEN_ID = "9313423515462893900"
BLUE_ID = "1920498462936580504"
GREEN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/{CLUSTER}/{SERVICE}/{GREEN_ID}"
BLUE = f"arn:aws:ecs:{REGION}:{ACCOUNT}:service-revision/{CLUSTER}/{SERVICE}/{BLUE_ID}"


def _event(execution: str, stage: str, test: dict[str, int], production: dict[str, int]) -> dict[str, Any]:
    return {
        "executionId": execution,
        "lifecycleStage": stage,
        "resourceArn": DEPLOYMENT_ARN,
        "executionDetails": {
            "serviceArn": SERVICE_ARN,
            "targetServiceRevisionArn": GREEN,
            "testTrafficWeights": test,
            "productionTrafficWeights": production,
        },
    }


AWS_EXAMPLES: dict[str, dict[str, Any]] = {
    "PRE_SCALE_UP": _event("e8d5a28f-eb01-4f3c-9454-a30ba6dc54bc", "PRE_SCALE_UP", {}, {}),
    "POST_SCALE_UP": _event("8b095b05-7bb0-4c56-a223-a3f61f4f9295", "POST_SCALE_UP", {}, {}),
    "TEST_TRAFFIC_SHIFT": _event(
        "779085de-ab47-42bc-84ad-41f9914a8643", "TEST_TRAFFIC_SHIFT", {GREEN: 100, BLUE: 0}, {}
    ),
    "POST_TEST_TRAFFIC_SHIFT": _event("3a0345ba-b029-404b-890d-7da2a4b266aa", "POST_TEST_TRAFFIC_SHIFT", {}, {}),
    "PRE_PRODUCTION_TRAFFIC_SHIFT": _event(
        "a2b3c4d5-e6f7-8901-abcd-ef1234567890", "PRE_PRODUCTION_TRAFFIC_SHIFT", {}, {GREEN: 0, BLUE: 100}
    ),
    "PRODUCTION_TRAFFIC_SHIFT": _event(
        "f4fcae0f-9bec-41c6-ba87-0eaa0cef8af5", "PRODUCTION_TRAFFIC_SHIFT", {}, {GREEN: 100, BLUE: 0}
    ),
    "POST_PRODUCTION_TRAFFIC_SHIFT": _event(
        "5f40ed04-7e54-437d-b95d-98bc872fec49", "POST_PRODUCTION_TRAFFIC_SHIFT", {}, {}
    ),
}
# "Lifecycle hooks during rollback": the production hook called again, green back to 0.
ROLLBACK = _event("70073435-cb99-457f-b900-6ee1dcad05ec", "PRODUCTION_TRAFFIC_SHIFT", {}, {GREEN: 0, BLUE: 100})


def event(stage: str, hook_details: dict[str, Any] | None = None, **production: float) -> dict[str, Any]:
    """AWS's example for `stage`, with hookDetails and (green=, blue=) production weights when given."""
    found = copy.deepcopy(AWS_EXAMPLES[stage])
    if production:
        weights = {GREEN: production.get("green", 0), BLUE: production.get("blue", 0)}
        found["executionDetails"]["productionTrafficWeights"] = {arn: w for arn, w in weights.items()}
    if hook_details is not None:
        found["hookDetails"] = copy.deepcopy(hook_details)
    return found
