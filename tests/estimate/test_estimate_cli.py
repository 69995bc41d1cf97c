"""python -m estimate: a stack file's cost and deploy times, printed without Pulumi or AWS."""

import io
import json
import subprocess
import sys

from estimate.cli import ExitCode, estimates, main
from settings import PROJECT_DIR


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_json_holds_both_outputs_for_each_stack_asked():
    code, out, _ = run("--stack", "dev", "--stack", "prod", "--json")
    assert code == ExitCode.OK
    printed = json.loads(out)
    assert set(printed) == {"dev", "prod"}
    assert printed["dev"] == estimates("dev")


def test_text_report_names_the_total_each_item_and_the_deploy_times():
    code, out, _ = run("--stack", "dev")
    total = estimates("dev")["estimated_monthly_cost"]["total_usd"]
    assert code == ExitCode.OK
    assert out.startswith(f"stack dev (us-east-1): about ${total:,.2f} a month\n")
    assert "public_ipv4_tasks" in out and "worst case 125 s for one replica" in out


def test_unknown_stack_is_one_line_and_exit_2():
    code, out, err = run("--stack", "staging")
    assert (code, out) == (ExitCode.BAD_STACK, "")
    assert err == "estimate: stack 'staging': no file Pulumi.staging.yaml; stacks here: dev, prod\n"


def test_runs_as_a_module_without_the_pulumi_cli():
    result = subprocess.run(
        [sys.executable, "-m", "estimate", "--stack", "dev", "--json"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/nonexistent"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["dev"]["estimated_monthly_cost"]["total_usd"] < 50


def test_bad_argument_is_one_line_and_exit_2():
    code, out, err = run("Pulumi.dev.yaml")
    assert (code, out) == (ExitCode.BAD_STACK, "")
    assert err == "estimate: unrecognized arguments: Pulumi.dev.yaml (see python -m estimate --help)\n"


def test_a_stack_name_pulumi_would_refuse_is_named_with_what_is_allowed():
    code, out, err = run("--stack", "../dev")
    assert (code, out) == (ExitCode.BAD_STACK, "")
    assert err == ("estimate: stack '../dev' is not a stack name; allowed: 1 to 100 letters, digits, '-', '_' or '.'\n")
