"""GitHub's step summary (Markdown, no links, bounded), --phases (marks read once measuring has ended) and
--until-mark (a measurement that ends with the other process's flow)."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from pathlib import Path

import pytest
from verify_helpers import build_tally, replica_answer, rolling_deploy, rotation

from verify.cli import ExitCode, main
from verify.core.errors import CouldNotMeasure
from verify.core.tally import Phase
from verify.judging.evidence import Expectation
from verify.judging.judge import judge
from verify.rendering.job_summary import SUMMARY_BYTES_MAX, SUMMARY_REPLICAS_MAX, summary_markdown
from verify.sources.phases import PHASES_MAX, UNTIL_MARK_TAIL_S, read_phases

FAST = ["--wait", "2", "--timeout", "2", "--concurrency", "4"]


def table_rows(markdown: str) -> list[list[str]]:
    """The table's rows as GitHub splits them: at every pipe not escaped."""
    return [re.split(r"(?<!\\)\|", line)[1:-1] for line in markdown.splitlines() if line.startswith("|")]


def test_the_summary_has_the_verdict_a_row_per_replica_the_errors_and_the_test() -> None:
    tally = rolling_deploy({4: {"HTTP 502": 3}})
    expectation = Expectation(replica_range=(3, 3), max_error_rate=0)
    verdict = judge(tally, expectation)
    markdown = summary_markdown(verdict, tally, "/tmp/out/verify-dev.html")
    assert markdown.startswith("### verify: UNEVEN ❌\n")
    head, _rule, *rows = table_rows(markdown)
    assert [cell.strip() for cell in head] == ["replica", "answers", "share", "vs even", "band"]
    assert [row[0].strip() for row in rows] == [f"`{stats.replica}`" for stats in verdict.replicas]
    assert [row[1].strip() for row in rows] == ["120", "120", "120"]  # the answers after the last change
    assert "errors: HTTP 502: 3" in markdown
    assert "verdict: UNEVEN: error rate 0.2% (3 of 1803) is above --max-error-rate 0.0%" in markdown
    assert "chi-square 0.00 with 2 degrees of freedom, p-value 1" in markdown
    assert "HTML report with charts: `verify-dev.html`" in markdown and "/tmp/out" not in markdown


@pytest.mark.parametrize("replica", ["a|b", "`x`", "@octocat", "[x](https://example.com/)", "<img src=x>", "*b*"])
def test_ids_from_servers_make_no_link_and_no_extra_cell(replica: str) -> None:
    tally = build_tally({replica: 100, "b": 100})
    markdown = summary_markdown(judge(tally, Expectation(replica_range=(2, 2))), tally)
    rows = table_rows(markdown)
    assert {len(row) for row in rows} == {5}
    cell = next(row[0].strip() for row in rows[2:] if row[0].strip() != "`b`")
    assert cell.startswith("`") and cell.endswith("`")  # a code span: Markdown makes nothing of it
    outside_code = re.sub(r"(`+).*?\1", "", re.sub(r"(?s)```+text\n.*?\n```+", "", markdown))
    assert not re.search(r"\]\(|<[a-z]|@\w|https?:", outside_code), outside_code


def test_the_summary_is_bounded_whatever_the_run() -> None:
    ids = [f"{i:04d}" + "`|<@" * 15 for i in range(1000)]
    tally = dataclasses.replace(
        build_tally(dict.fromkeys(ids, 3), errors={f"HTTP {i}" * 20: 1 for i in range(500)}),
        cookies={f"c{i}": 1 for i in range(64)},
    )
    markdown = summary_markdown(judge(tally, Expectation(replica_range=(1000, 1000))), tally)
    assert len(markdown.encode()) <= SUMMARY_BYTES_MAX
    assert len(table_rows(markdown)) == 2 + SUMMARY_REPLICAS_MAX
    assert "950 more replicas: the JSON and the HTML report list every one." in markdown
    assert markdown.rstrip().endswith("```")  # the fenced block closed: nothing cut


def test_verify_appends_to_the_step_summary_and_keeps_what_was_there(serve, capsys, tmp_path, monkeypatch) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("## an earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    server = serve("127.0.0.2", rotation("10.0.1.5", "10.0.1.6"))
    argv = [f"http://127.0.0.2:{server.port}/", "--expect-replicas", "2", "--requests", "300", *FAST]
    assert main(argv) == ExitCode.EVEN
    text = summary.read_text()
    assert text.startswith("## an earlier step\n### verify: EVEN ✅\n")
    assert "| `10.0.1.5` | 150 | 50.0% | +0.0% |" in text
    capsys.readouterr()


def test_a_run_that_could_not_measure_says_so_in_the_step_summary(capsys, tmp_path, monkeypatch, free_port) -> None:
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main([f"http://127.0.0.2:{free_port}/", "--wait", "0"]) == ExitCode.COULD_NOT_MEASURE
    text = summary.read_text()
    assert text.startswith(f"### verify: could not measure ❌\n\n`http://127.0.0.2:{free_port}/`\n")
    assert "```text\nverify: " in text
    assert capsys.readouterr().err.count("\n") == 1


def test_a_step_summary_that_cannot_be_written_is_exit_2_with_one_line(serve, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path / "no-such-folder" / "summary.md"))
    server = serve("127.0.0.2", rotation("a"))
    assert main([f"http://127.0.0.2:{server.port}/", "--expect-replicas", "1", *FAST]) == ExitCode.COULD_NOT_MEASURE
    err = capsys.readouterr().err
    assert err.startswith("verify: could not append to $GITHUB_STEP_SUMMARY '") and err.count("\n") == 1


def test_phases_are_placed_on_the_timeline_and_those_outside_it_left_out(tmp_path) -> None:
    marks = tmp_path / "phases.txt"
    marks.write_text("999.5 before the run\n1002.25 new replicas healthy\n\n1004 old replicas stopped\n1020 after it\n")
    assert read_phases(str(marks), started_at=1000.0, elapsed_s=8.0) == (
        Phase(2.25, "new replicas healthy"),
        Phase(4.0, "old replicas stopped"),
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("soon new replicas healthy\n", "line 1 'soon new replicas healthy': one mark a line: UNIX_TIME TEXT"),
        ("nan healthy\n", "line 1 'nan healthy'"),
        ("1000.5\n", "line 1 '1000.5'"),
        ("1000 x\n" * (PHASES_MAX + 1), f"has {PHASES_MAX + 1} marks; at most {PHASES_MAX}"),
        ("1000 " + "x" * 70_000, "is over 64 KiB"),
    ],
)
def test_a_bad_phases_file_is_one_line_naming_it(tmp_path, content: str, message: str) -> None:
    marks = tmp_path / "phases.txt"
    marks.write_text(content)
    with pytest.raises(CouldNotMeasure, match=re.escape(message)):
        read_phases(str(marks), started_at=1000.0, elapsed_s=8.0)


def test_a_missing_phases_file_is_exit_2_before_any_request(capsys, tmp_path, free_port) -> None:
    code = main([f"http://127.0.0.2:{free_port}/", "--phases", str(tmp_path / "none.txt"), *FAST])
    assert code == ExitCode.COULD_NOT_MEASURE
    assert capsys.readouterr().err == (
        f"verify: --phases '{tmp_path}/none.txt': No such file or directory (one mark a line: UNIX_TIME TEXT, e.g."
        " 1767225600.25 new replicas healthy)\n"
    )


def marking_at(marks: Path, request: int, text: str, replicas: str = "abc"):
    """Replicas in turn, and the other process marking `text` once the server has had `request` requests:
    its flow ends while verify measures, whatever the machine's speed."""

    def answer(number: int):
        if number == request:
            with marks.open("a") as file:
                file.write(f"{time.time():.3f} {text}\n")
        return replica_answer(replicas[number % len(replicas)])

    return answer


def test_until_mark_measures_until_the_mark_and_the_judged_tail_within_the_bound(serve, capsys, tmp_path) -> None:
    marks = tmp_path / "phases.txt"
    marks.write_text("")
    server = serve("127.0.0.2", marking_at(marks, 40, "flow ended"))
    argv = [f"http://127.0.0.2:{server.port}/", "--expect-replicas", "3", "--duration", "120", "--json", *FAST]
    code = main([*argv, "--phases", str(marks), "--until-mark", "flow ended"])
    report = json.loads(capsys.readouterr().out)
    assert code == ExitCode.EVEN, report["reason"]
    ((mark,),) = [[phase["second"] for phase in report["phases"] if phase["text"] == "flow ended"]]
    # Ended by the mark: after its tail, and far before the bound of 120 s.
    assert mark + UNTIL_MARK_TAIL_S <= report["elapsed_s"] < 60
    assert report["timeline"][-1]["second"] >= int(mark) + 1, "a whole second after the mark's is judged"


def test_a_flow_that_never_marks_its_end_is_exit_2_naming_its_last_mark(serve, capsys, tmp_path) -> None:
    marks = tmp_path / "phases.txt"
    marks.write_text("")
    server = serve("127.0.0.2", marking_at(marks, 20, "draining the old replicas"))
    argv = [f"http://127.0.0.2:{server.port}/", "--expect-replicas", "3", "--duration", "1.5", *FAST]
    assert main([*argv, "--phases", str(marks), "--until-mark", "flow ended"]) == ExitCode.COULD_NOT_MEASURE
    err = capsys.readouterr().err
    assert re.fullmatch(
        rf"verify: --phases '{re.escape(str(marks))}' had no mark 'flow ended' within --duration 1\.5 s"
        r" \(its last mark, \d+\.\d s in: 'draining the old replicas'\)\n",
        err,
    ), err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--duration", "5"], "--until-mark goes with --phases FILE and --duration SECONDS (its bound)"),
        (["--phases", "PHASES"], "--until-mark goes with --phases FILE and --duration SECONDS (its bound)"),
        (["--phases", "PHASES", "--duration", "5", "--until-mark", " "], "argument --until-mark: an empty value"),
        (["--phases", "PHASES", "--duration", "5", "--until-mark", "a\tb"], "argument --until-mark: 'a\\tb' holds a"),
    ],
)
def test_until_mark_needs_phases_a_duration_and_a_text(capsys, tmp_path, free_port, flags, message) -> None:
    marks = tmp_path / "phases.txt"
    marks.write_text("")
    flags = [str(marks) if flag == "PHASES" else flag for flag in flags]
    flags = flags if "--until-mark" in flags else [*flags, "--until-mark", "done"]
    assert main([f"http://127.0.0.2:{free_port}/", *flags, *FAST]) == ExitCode.COULD_NOT_MEASURE
    err = capsys.readouterr().err
    assert err.startswith(f"verify: {message}") and err.count("\n") == 1, err
