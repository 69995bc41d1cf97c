"""python -m estimate: a stack file's cost and deploy times, printed without Pulumi or AWS."""

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from estimate import cli
from estimate.cli import ExitCode, estimates, main
from settings import from_stack_file
from stack_config import PROJECT_DIR, stack_file_region


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
    assert "public_ipv4_alb_nodes" in out and "worst case 138 s for one replica" in out
    assert "by the replicas' addressing, all else as set: ipv6-only $36.21, ipv4-public-tasks $47.16" in out
    assert "pulumi up gives up on a service that is not steady after 438 s" in out


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


def test_an_option_is_never_abbreviated():
    code, out, err = run("--js")
    assert (code, out) == (ExitCode.BAD_STACK, "")
    assert err == "estimate: unrecognized arguments: --js (see python -m estimate --help)\n"


def test_a_stack_name_pulumi_would_refuse_is_named_with_what_is_allowed():
    code, out, err = run("--stack", "../dev")
    assert (code, out) == (ExitCode.BAD_STACK, "")
    assert err == ("estimate: stack '../dev' is not a stack name; allowed: 1 to 100 letters, digits, '-', '_' or '.'\n")


def _bomb(levels: int) -> str:
    """A YAML bomb: each level repeats the one before nine times, through aliases."""
    lines = ['l0: &l0 ["xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx", "xxxxxxxx"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\nconfig:\n  alb-replicas:image: *l{levels}\n"


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda path: path.write_bytes(b"config:\n  alb-replicas:replicas: \xff\xfe\n"), "is not UTF-8 text"),
        (lambda path: path.write_text("config:\n  alb-replicas:image: " + "[" * 5000 + "]" * 5000 + "\n"), "deeper"),
        (lambda path: path.write_text(_bomb(8)), "each alias counted as all it repeats"),
        (lambda path: path.write_text("config:\n  alb-replicas:image: &a [*a]\n"), "anchor &a holds itself"),
        (lambda path: path.write_text(f"config:\n  alb-replicas:replicas: {'9' * 5000}\n"), "not a whole number"),
        (lambda path: path.write_text(f"config:\n  alb-replicas:replicas: '{'9' * 5000}'\n"), "not a whole number"),
        (lambda path: path.write_text("config:\n  alb-replicas:replicas: 3\n" + "#" * (2 << 20)), "over 1 MiB"),
        (lambda path: path.mkdir(), "Pulumi.odd.yaml is a directory, not a file"),
        (lambda path: os.mkfifo(path), "Pulumi.odd.yaml is a FIFO, not a file"),
        (lambda path: path.symlink_to(path.name), "Pulumi.odd.yaml is a link that leads nowhere"),
        (lambda path: (path.write_text("config: {}\n"), path.chmod(0)), "Pulumi.odd.yaml cannot be read"),
    ],
    ids=["binary", "deep", "bomb", "self-ref", "long-int", "long-int-text", "huge", "dir", "fifo", "loop", "unread"],
)
def test_a_hostile_stack_file_is_one_short_line_and_exit_2_in_bounded_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make: Callable[[Path], object], expected: str
) -> None:
    make(tmp_path / "Pulumi.odd.yaml")
    monkeypatch.setattr(cli, "from_stack_file", lambda stack: from_stack_file(stack, project_dir=tmp_path))
    monkeypatch.setattr(cli, "stack_file_region", lambda stack: stack_file_region(stack, project_dir=tmp_path))
    if expected == "Pulumi.odd.yaml cannot be read" and os.access(tmp_path / "Pulumi.odd.yaml", os.R_OK):
        monkeypatch.setattr(Path, "open", _refuse_to_open)  # as root, permissions do not stop a read
    started = time.monotonic()

    code, out, err = run("--stack", "odd")

    assert (code, out) == (ExitCode.BAD_STACK, "")
    assert expected in err and err.startswith("estimate: ") and err.count("\n") == 1, err[:500]
    assert len(err) < 500
    assert time.monotonic() - started < 15  # a FIFO read blocks for ever; the bomb holds 215 million strings


def _refuse_to_open(path: Path, *args: object, **kwargs: object) -> None:
    raise PermissionError(13, "Permission denied", str(path))
