"""The deploy hook: the stack declares verify as ECS's lifecycle hook (a Lambda function packaged from the
repository, its own roles and log group) with every strategy and deploymentVerify, and wires it into every
shifting deploy, told to judge exactly with deploymentVerify; the settings it hands the hook are what the hook
reads."""

import asyncio
import gc
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from components.deploy_hook import HANDLER
from components.lambda_package import PackageError, handler_files
from components.options import TEST_HEADER
from tests.hook_payloads import event
from tests.stack.harness import ACCOUNT_ID, PROJECT_DIR, REGION, Deployment, declare_stack
from verify.hook import Clients, decide
from verify.sources.hook.payload import read_invocation
from verify.sources.hook.stage import NOT_JUDGED

FUNCTION = "aws:lambda/function:Function"
SERVICE = "aws:ecs/service:Service"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
CLUSTER = "aws:ecs/cluster:Cluster"


@pytest.fixture(scope="module")
def canary() -> Deployment:
    return declare_stack("dev", deploymentStrategy="canary:10", deploymentTestTraffic=True)


def _policy(deployment: Deployment, name: str) -> dict:
    return json.loads(deployment.one(ROLE_POLICY, name).inputs["policy"])


class _NoAws:
    """ECS's and ELBv2's clients for a hook that must call neither."""

    def __getattr__(self, operation: str) -> object:
        raise AssertionError(f"the hook called {operation}")


def test_every_strategy_keeps_the_hook_and_with_verify_off_a_shifting_deploy_names_it_not_to_judge():
    """ECS keeps the last hook the provider sent (it sends none for an empty list: docs/configuration.md), so the
    function and its roles exist with rolling too, and a shifting deploy with deploymentVerify off names the same
    function, which lets each stage through and says it did not judge."""
    rolling = declare_stack("dev")
    unverified = declare_stack("dev", deploymentStrategy="canary:10", deploymentVerify=False)
    for deployment in (rolling, unverified):
        assert deployment.one(FUNCTION).name == "alb-replicas-dev-deploy-hook"
        hooks = sorted(r.name for r in deployment.all(ROLE) + deployment.all(ROLE_POLICY) if "-hook" in r.name)
        assert hooks == [f"alb-replicas-dev-hook{end}" for end in ("", "-invoke", "-invoke", "-logs", "-reads")]
        assert deployment.exports["deploy_hook_function_arn"].endswith(":function:alb-replicas-dev-deploy-hook-a1b2c3d")
    assert rolling.one(SERVICE).inputs["deploymentConfiguration"] == {"strategy": "ROLLING"}, "no hook in rolling"
    (hook,) = unverified.one(SERVICE).inputs["deploymentConfiguration"]["lifecycleHooks"]
    assert hook["hookTargetArn"] == unverified.exports["deploy_hook_function_arn"]
    for stage in hook["lifecycleStages"]:
        payload = event(stage, json.loads(hook["hookDetails"]))
        assert read_invocation(payload).settings.judge is False
        outcome = decide(payload, Clients(ecs=_NoAws(), elb=_NoAws()), remaining_s=60.0)
        assert outcome.answer == {"hookStatus": "SUCCEEDED"}
        assert (outcome.line["verdict"], outcome.line["reason"]) == ("not measured", NOT_JUDGED)


def test_the_function_runs_verify_s_handler_on_python_arm64_and_logs_to_its_own_group(canary):
    function = canary.one(FUNCTION).inputs
    assert (function["runtime"], function["architectures"], function["handler"]) == (
        "python3.13",
        ["arm64"],
        "verify.hook.handler",
    )
    assert function["timeout"] <= 900, "ECS: a hook answers within 15 minutes"
    group = canary.one(LOG_GROUP, "alb-replicas-dev-deploy-hook").inputs
    assert function["loggingConfig"] == {"logFormat": "Text", "logGroup": group["name"]}
    assert group["retentionInDays"] == 7, "dev's logRetentionDays"


def test_the_function_s_role_may_write_its_log_group_and_read_only_this_cluster(canary):
    role = canary.one(ROLE, "alb-replicas-dev-hook").inputs
    (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"}
    (logs,) = _policy(canary, "alb-replicas-dev-hook-logs")["Statement"]
    assert logs["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert logs["Resource"].endswith("alb-replicas-dev-deploy-hook:*")
    reads = _policy(canary, "alb-replicas-dev-hook-reads")["Statement"]
    cluster = canary.one(CLUSTER)
    cluster_arn = f"arn:aws:mock:{REGION}:{ACCOUNT_ID}:cluster/{cluster.name}"
    ecs = f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}"
    assert reads == [
        {
            "Effect": "Allow",
            "Action": "ecs:ListTasks",
            "Resource": "*",
            "Condition": {"ArnEquals": {"ecs:cluster": cluster_arn}},
        },
        {"Effect": "Allow", "Action": "ecs:DescribeTasks", "Resource": f"{ecs}:task/{cluster.name}/*"},
        {"Effect": "Allow", "Action": "ecs:DescribeServices", "Resource": f"{ecs}:service/{cluster.name}/*"},
        {
            "Effect": "Allow",
            "Action": ["elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTargetHealth"],
            "Resource": "*",
        },
    ]
    assert not any("Action" in s and "*" in str(s["Action"]) for s in reads), "no wildcard action"


def test_ecs_invokes_the_function_with_a_role_of_its_own_that_may_invoke_only_it(canary):
    role = canary.one(ROLE, "alb-replicas-dev-hook-invoke")
    (trust,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "ecs.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}
    (invoke,) = _policy(canary, "alb-replicas-dev-hook-invoke")["Statement"]
    function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:alb-replicas-dev-deploy-hook-a1b2c3d"
    assert (invoke["Action"], invoke["Resource"]) == (["lambda:InvokeFunction"], function_arn)
    (hook,) = canary.one(SERVICE).inputs["deploymentConfiguration"]["lifecycleHooks"]
    assert hook["hookTargetArn"] == function_arn
    assert hook["roleArn"] == f"arn:aws:iam::{ACCOUNT_ID}:role/{role.name}"
    assert hook["lifecycleStages"] == [
        "POST_TEST_TRAFFIC_SHIFT",
        "PRODUCTION_TRAFFIC_SHIFT",
        "POST_PRODUCTION_TRAFFIC_SHIFT",
    ]
    assert canary.exports["deploy_hook_function_arn"] == function_arn
    assert canary.exports["deploy_hook_log_group"] == "/aws/lambda/alb-replicas-dev-deploy-hook"


def test_without_test_traffic_the_hook_judges_the_production_steps_and_the_end():
    deployment = declare_stack("dev", deploymentStrategy="linear:34")
    (hook,) = deployment.one(SERVICE).inputs["deploymentConfiguration"]["lifecycleHooks"]
    assert hook["lifecycleStages"] == ["PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT"]
    settings = read_invocation(event("PRODUCTION_TRAFFIC_SHIFT", json.loads(hook["hookDetails"]))).settings
    assert settings.green_shares == (34.0, 68.0, 100.0)
    assert settings.test_rule_arn is None and settings.test_header is None
    assert settings.alpha == pytest.approx(0.01 / 4), "three steps and the end share the deploy's alpha"


def test_the_service_waits_for_the_hook_s_permissions(canary):
    service = canary.one(SERVICE)
    for name in ("alb-replicas-dev-hook-reads", "alb-replicas-dev-hook-invoke"):
        assert canary.one(ROLE_POLICY, name).urn in service.dependencies, name


def test_the_settings_the_stack_gives_the_hook_are_what_the_hook_reads(canary):
    (hook,) = canary.one(SERVICE).inputs["deploymentConfiguration"]["lifecycleHooks"]
    invocation = read_invocation(event("POST_TEST_TRAFFIC_SHIFT", json.loads(hook["hookDetails"])))
    settings = invocation.settings
    rules = {rule.name: rule for rule in canary.all(LISTENER_RULE)}
    assert settings.url == canary.exports["url"]
    assert settings.production_rule_arn.endswith("/alb-replicas-dev-production")
    assert settings.test_rule_arn is not None and settings.test_rule_arn.endswith("/alb-replicas-dev-test")
    assert settings.test_header == TEST_HEADER
    assert settings.green_shares == (10.0, 100.0)
    assert settings.algorithm == "round_robin"
    assert settings.judge is True, "deploymentVerify"
    assert settings.alpha == pytest.approx(0.01 / 4), "the test traffic, two steps and the end"
    assert set(rules) == {"alb-replicas-dev-production", "alb-replicas-dev-test"}


def test_the_package_is_the_handler_s_modules_and_nothing_else(canary):
    code = canary.one(FUNCTION).inputs["code"]
    files = sorted(code.assets)
    assert files == handler_files(HANDLER, PROJECT_DIR)
    assert all(path.startswith("verify/") and path.endswith(".py") for path in files)
    assert not any(part in path for path in files for part in ("tests/", "rendering/html", "sources/logs", "cli.py"))
    for path, asset in code.assets.items():
        assert Path(asset.path) == PROJECT_DIR / path
    assert {"verify/hook.py", "verify/sources/hook/payload.py", "verify/judging/judge.py"} <= set(files)


def test_the_package_is_read_while_the_collector_finalizes_futures_nobody_retrieved():
    """Every stack builds the package now, while the Pulumi runtime leaves asyncio futures whose exception nobody
    retrieved (a resource that failed); finalized by a collection in the middle of a parse, each logs its traceback,
    which parses its source line, and CPython 3.11's AST constructor fails with a recursion depth mismatch
    (python/cpython#106905). Fails on a parse that leaves the collector running (a script of the same: 29 of 30)."""
    loop = asyncio.new_event_loop()
    threshold = gc.get_threshold()
    logger, written = logging.getLogger("asyncio"), logging.StreamHandler(io.StringIO())
    logger.addHandler(written)  # each finalized future's traceback formatted, as pytest's log capture does
    logger.propagate = False
    try:
        for _ in range(10):
            for _ in range(200):
                future = loop.create_future()
                try:
                    {}["missing"]
                except KeyError as error:
                    future.set_exception(error)
                cycle: list = [future]
                cycle.append(cycle)  # freed only by a collection
            del future, cycle
            gc.set_threshold(5)
            assert handler_files(HANDLER, PROJECT_DIR)
    finally:
        gc.set_threshold(*threshold)
        gc.collect()
        logger.removeHandler(written)
        logger.propagate = True
        loop.close()


def test_importing_the_handler_loads_nothing_lambda_lacks():
    code = (
        "import sys, verify.hook; "
        "print(sorted({m.split('.')[0] for m in sys.modules}"
        " & {'matplotlib', 'duckdb', 'requests', 'boto3', 'pulumi'}))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]", "boto3 too is imported only at the first call"


def test_the_package_builder_refuses_a_module_lambda_lacks(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "entry.py").write_text("import json\n\ndef handler(event, context):\n    import matplotlib\n")
    with pytest.raises(PackageError, match=r"pkg\.entry imports matplotlib"):
        handler_files("pkg.entry.handler", tmp_path)
    (tmp_path / "pkg" / "entry.py").write_text("import boto3\nimport pkg.missing\n")
    with pytest.raises(PackageError, match=r"pkg\.missing"):
        handler_files("pkg.entry.handler", tmp_path)
