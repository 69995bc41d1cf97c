"""The HTML report: the same numbers as the terminal report and the JSON, nothing fetched, ids escaped,
bounded in size, and --report written whole or not at all (a bad path is one line and exit 2)."""

from __future__ import annotations

import dataclasses
import errno
import io
import json
import os
import re
import sys
from html.parser import HTMLParser

import pytest
from verify_helpers import build_tally, one_line_error, rolling_deploy, rotation

from tests.small_filesystem import in_small_filesystem
from verify.cli import ExitCode, main
from verify.core.errors import CouldNotMeasure
from verify.core.tally import Phase, Second
from verify.judging.evidence import Expectation, WeightGroup
from verify.judging.judge import judge
from verify.rendering import outputs
from verify.rendering.html import TIMELINE_POINTS_MAX, TIMELINE_STEPS_MAX, render_html
from verify.rendering.terminal import render_report, report_json

EXPECT = Expectation(replica_range=(3, 3), subnets=(("10.0.1.0/24", "zone-a"), ("10.0.2.0/24", "zone-b")))
PHASES = (Phase(2.6, "started and registered 3 new replicas"), Phase(4.2, "new replicas healthy"))
FAST = ["--wait", "2", "--timeout", "2", "--concurrency", "4"]


class Page(HTMLParser):
    """What the page holds: each table's rows of cell texts, the list items, every tag and attribute."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.items: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.svgs: dict[str, int] = {}  # section id -> inline <svg> elements in it
        self._table: str | None = None
        self._section = ""
        self._text: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.attributes += [(tag, name, value) for name, value in attrs]
        if tag == "section":
            self._section = dict(attrs)["id"] or ""
        elif tag == "svg":
            self.svgs[self._section] = self.svgs.get(self._section, 0) + 1
        elif tag == "table":
            self._table = dict(attrs)["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th", "li"):
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._text is not None:
            self.tables[self._table][-1].append("".join(self._text))
        elif tag == "li" and self._text is not None:
            self.items.append("".join(self._text))
        elif tag == "table":
            self._table = None
        if tag in ("td", "th", "li"):
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def three_renderings(tally, expectation=EXPECT):
    verdict = judge(tally, expectation)
    terminal, page = io.StringIO(), io.StringIO()
    render_report(verdict, tally, terminal)
    render_html(verdict, tally, page)
    return terminal.getvalue().splitlines(), report_json(verdict, tally), page.getvalue()


def test_the_page_shows_the_numbers_of_the_terminal_report_and_the_json() -> None:
    tally = dataclasses.replace(rolling_deploy({4: {"HTTP 502": 3}, 5: {"connection reset": 2}}), phases=PHASES)
    lines, report, text = three_renderings(tally)
    page = Page(text)

    head, *rows, total = page.tables["replicas"]
    assert head == ["replica", "zone", "answers", "share", "vs even", "band", "p50 ms", "p95 ms"]
    assert [row[0] for row in rows] == list(report["replicas"])
    for row in rows:
        terminal_row = next(line for line in lines if line.startswith(row[0] + " "))
        assert row[:5] + row[6:] == terminal_row.split()[:7]
        assert int(row[2]) == report["replicas"][row[0]]
        assert row[3] == f"{int(row[2]) / report['answers']:.1%}"
        expected = report["expected_shares"][row[0]]
        assert row[5] == f"{expected['low']:.1%} to {expected['high']:.1%}"
        assert f"band {row[5]}" in next(line for line in lines if line.startswith("expected share:"))
    assert total[0] == "all" and int(total[2]) == report["answers"]

    zones = page.tables["zones-table"][1:]
    assert zones == [line.split() for line in lines if line.startswith("zone-")]
    assert [[z, str(v["replicas"]), str(v["count"]), f"{v['share']:.1%}"] for z, v in report["zones"].items()] == zones
    nodes = page.tables["nodes"][1:]
    assert nodes == [[n["address"], str(n["requests"]), str(n["answers"]), str(n["errors"])] for n in report["nodes"]]

    # Every second (folded away) as the terminal lists them; above it only those where something happened.
    start = lines.index("timeline of 8 s (second: requests, answers, replicas answering; changes; errors):")
    terminal_timeline = lines[start + 1 : start + 1 + len(page.tables["timeline-all"]) - 1]
    eventful = page.tables["timeline-table"][1:]
    # The first and the last second, each phase and its second, each change (3, 5), the errors (4, 5).
    assert [row[0] for row in eventful] == ["0", "2", "2.6", "3", "4", "4.2", "5", "7"]
    assert all(row in page.tables["timeline-all"] for row in eventful)
    for row, line in zip(page.tables["timeline-all"][1:], terminal_timeline, strict=True):
        if row[1].startswith("P"):  # a phase: "P1 phase: text" here, "   2.6  phase: text" there
            assert line.split(None, 1) == [row[0], row[1].split(" ", 1)[1]]
            continue
        second, requests, answers, replicas, moves, errors = row
        assert line.split()[:5] == [second, requests, answers, replicas, "replicas"]
        assert moves in line and (not errors or f"errors: {errors}" in line)
        json_second = report["timeline"][int(second)]
        assert [json_second["requests"], json_second["answers"]] == [int(requests), int(answers)]
    assert report["phases"] == [{"second": phase.second, "text": phase.text} for phase in PHASES]

    assert page.items and all(item in lines for item in page.items)  # statistics, target health, notes
    assert lines[-2] in text and lines[-1] in text  # the sentence and the verdict line
    assert page.svgs == {"split": 1, "zones": 1, "timeline": 1}


def test_a_chart_per_section_and_one_bar_or_band_per_replica() -> None:
    tally = dataclasses.replace(rolling_deploy({4: {"HTTP 502": 3}}), phases=PHASES)
    _, report, text = three_renderings(tally)
    assert len(re.findall(r"<g id=\"replica-bar-\d+\"", text)) == len(report["replicas"]) == 3
    assert len(re.findall(r"<g id=\"replica-band-\d+\"", text)) == 6  # every replica of the run, old and new
    assert len(re.findall(r"<g id=\"change-\d+-", text)) == 2 * 2  # two changes, marked on both charts
    assert len(re.findall(r"<g id=\"phase-\d+-", text)) == 2 * 2
    assert "<header class='even' id='verdict'><h1>EVEN</h1>" in text


def test_with_weights_each_replica_has_its_own_expected_share_and_band_on_every_rendering() -> None:
    tally = build_tally({"10.0.1.5": 100, "10.0.1.6": 450, "10.0.2.5": 450})
    weights = (WeightGroup(("10.0.1.5",), 10), WeightGroup(("10.0.1.6", "10.0.2.5"), 90))
    lines, report, text = three_renderings(tally, Expectation(weights=weights))
    shares = {replica: expected["share"] for replica, expected in report["expected_shares"].items()}
    assert shares == pytest.approx({"10.0.1.5": 0.10, "10.0.1.6": 0.45, "10.0.2.5": 0.45})
    assert all(
        expected["low"] < expected["share"] < expected["high"] for expected in report["expected_shares"].values()
    )
    assert "expected shares: as --expect-weights sets them, each with its band in the table" in lines
    head, *rows, _ = Page(text).tables["replicas"]
    band_rows = [row[head.index("band")] for row in rows]
    assert band_rows == [f"{e['low']:.1%} to {e['high']:.1%}" for e in report["expected_shares"].values()]
    assert len(re.findall(r"<g id=\"band-\d+\"", text)) == len(re.findall(r"<g id=\"expected-\d+\"", text)) == 3


def test_the_page_fetches_nothing_and_runs_nothing() -> None:
    tally = dataclasses.replace(rolling_deploy({4: {"HTTP 502": 3}}), phases=PHASES)
    _, _, text = three_renderings(tally)
    page = Page(text)
    tags = {tag for tag, _, _ in page.attributes}
    assert not tags & {"script", "img", "link", "iframe", "object", "embed"}
    links = [(tag, name, value) for tag, name, value in page.attributes if name in ("src", "href", "xlink:href")]
    assert all((value or "").startswith("#") for _, _, value in links), links
    assert re.findall(r"url\((?!#)", text) == []
    assert "content=\"default-src 'none'; style-src 'unsafe-inline'\"" in text


@pytest.mark.parametrize("replica", ["<script>alert(1)</script>", "$x^{$", "a|b & 'c'", "\\x1b[31m"])
def test_ids_from_servers_are_shown_as_they_came_and_never_as_markup(replica: str) -> None:
    tally = build_tally({replica: 100, "b": 100})
    _, _, text = three_renderings(tally, Expectation(replica_range=(2, 2)))
    assert "<script>" not in text
    assert replica in [row[0] for row in Page(text).tables["replicas"]]


@pytest.mark.parametrize(("replicas", "seconds"), [(1000, 60), (3, 3600)])
def test_the_largest_runs_stay_within_a_bounded_size(replicas: int, seconds: int) -> None:
    """1,000 replicas (MAX_REPLICA_IDS), or an hour's timeline (--duration's cap): seconds averaged in buckets
    so the timeline chart draws at most TIMELINE_POINTS_MAX points."""
    ids = [f"10.0.{i // 250}.{i % 250}" for i in range(replicas)]
    timeline = [Second(s, replicas, {"HTTP 502": 1}, dict.fromkeys(ids, 1)) for s in range(seconds)]
    tally = dataclasses.replace(build_tally(dict.fromkeys(ids, seconds)), duration_s=float(seconds), timeline=timeline)
    page = io.StringIO()
    render_html(judge(tally, Expectation(replica_range=(replicas, replicas))), tally, page)
    size = len(page.getvalue().encode())
    assert size < 2 * 1024 * 1024, size
    assert len(re.findall(r"<g id=\"replica-band-\d+\"", page.getvalue())) == replicas
    assert replicas * seconds > TIMELINE_POINTS_MAX  # so the seconds were averaged in buckets
    # At most TIMELINE_STEPS_MAX buckets along the chart, and 1,000 replicas' points: 360 s each for those.
    bucket = max(seconds // TIMELINE_STEPS_MAX, replicas * seconds // TIMELINE_POINTS_MAX)
    assert f"(mean over {bucket} s)" in page.getvalue()
    assert page.getvalue().count("<tr>") > seconds, "every second in the table folded away"


def write_page(tmp_path, *extra: str):
    return ["--report", str(tmp_path / "report.html"), *extra]


def test_report_writes_the_page_beside_the_terminal_report(serve, capsys, tmp_path) -> None:
    server = serve("127.0.0.2", rotation("10.0.1.5", "10.0.2.6", "10.0.1.7"))
    path = tmp_path / "report.html"
    code = main([f"http://127.0.0.2:{server.port}/", "--expect-replicas", "3", "--report", str(path), *FAST])
    out = capsys.readouterr().out
    assert code == ExitCode.EVEN
    page = Page(path.read_text())
    assert [row[:3] for row in page.tables["replicas"][1:-1]] == [
        line.split()[:3] for line in out.splitlines() if line.startswith("10.0.")
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary file left


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("missing/report.html", "': the folder .* does not exist"),
        (".", "' is a folder, not a regular file"),
    ],
)
def test_a_bad_report_path_is_one_line_and_exit_2_before_any_request(capsys, tmp_path, free_port, where, message):
    path = tmp_path / where
    code = main([f"http://127.0.0.2:{free_port}/", "--report", str(path), "--json", *FAST])
    captured = capsys.readouterr()
    assert code == ExitCode.COULD_NOT_MEASURE
    assert re.fullmatch(rf"verify: --report '.*{message}\n", captured.err), captured.err
    assert json.loads(captured.out)["verdict"] == "error"


@pytest.mark.parametrize(("kind", "why"), [("read-only", "Read-only file system"), ("full", "No space left")])
def test_a_folder_that_takes_no_file_is_refused_before_any_request(tmp_path, free_port, kind, why) -> None:
    # A real file system of each kind: os.access says yes to root even on a read-only one.
    folder = tmp_path / "reports"
    folder.mkdir()
    argv = [sys.executable, "-m", "verify", f"http://127.0.0.2:{free_port}/", "--report", str(folder / "r.html")]
    done = in_small_filesystem([*argv, *FAST], folder, full=kind == "full", read_only=kind == "read-only")
    assert done.returncode == ExitCode.COULD_NOT_MEASURE, done.stderr
    said = one_line_error(done.stderr)
    assert said.startswith(f"verify: --report '{folder}/r.html': the folder '{folder}' takes no file: {why}"), said


def test_a_full_disk_leaves_the_old_report_whole_and_no_temporary_file(tmp_path, monkeypatch) -> None:
    path = tmp_path / "report.html"
    path.write_text("the last run's report")

    def disk_full(descriptor: int) -> None:  # where a full disk shows: the data will not fit
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(CouldNotMeasure, match=r"could not write --report '.*report.html': No space left on device"):
        outputs.write_atomically(str(path), "<html>" * 100_000, "--report")
    monkeypatch.undo()
    assert path.read_text() == "the last run's report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_a_full_disk_at_the_end_of_a_run_is_exit_2_with_one_line(serve, capsys, tmp_path, monkeypatch) -> None:
    server = serve("127.0.0.2", rotation("a"))

    def disk_full(path: str, text: str, option: str) -> None:
        raise CouldNotMeasure(f"could not write {option} {path!r}: No space left on device")

    monkeypatch.setattr("verify.cli.write_atomically", disk_full)
    code = main([f"http://127.0.0.2:{server.port}/", "--expect-replicas", "1", *write_page(tmp_path), "--json", *FAST])
    captured = capsys.readouterr()
    assert code == ExitCode.COULD_NOT_MEASURE
    assert captured.err.count("\n") == 1 and "No space left on device" in captured.err
    assert json.loads(captured.out)["verdict"] == "error"  # one object on stdout, as on every exit path
