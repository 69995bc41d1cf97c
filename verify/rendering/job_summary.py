"""The Markdown summary verify appends to $GITHUB_STEP_SUMMARY: what a person opening the run's page
should see without downloading anything. The verdict, a table per replica, the errors and the test's
numbers, as the terminal report words them.

No links: whatever came from a server (ids, zones, error kinds, notes that name them) is in code spans
or a fenced block, where Markdown makes nothing of it (no link, mention, image or table cell break).
Bounded: at most SUMMARY_REPLICAS_MAX rows and LINE_MAX characters a line, so SUMMARY_BYTES_MAX holds
any run (GitHub takes up to 1 MiB per step).
"""

from __future__ import annotations

import os
import re

from verify.core.tally import Tally
from verify.judging.judge import Verdict
from verify.rendering.terminal import (
    expected_share_line,
    health_and_note_lines,
    run_line,
    statistics_lines,
    verdict_line,
)

SUMMARY_REPLICAS_MAX = 50
LINE_MAX = 400
SUMMARY_BYTES_MAX = 64 * 1024
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark, which CommonMark lets escape


def summary_markdown(verdict: Verdict, tally: Tally, report: str | None = None) -> str:
    """The summary of one measured run."""
    mark = "✅" if verdict.even else "❌"
    parts = [f"### verify: {'EVEN' if verdict.even else 'UNEVEN'} {mark}", ""]
    parts += [f"{_code(tally.url)}: {_text(run_line(verdict, tally))}", ""]
    zoned = any(stats.zone for stats in verdict.replicas)
    head = ["replica", *(["zone"] if zoned else []), "answers", "share", "vs even", "band"]
    parts += ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * (1 + zoned) + ["--:"] * 3 + ["---"]) + "|"]
    for stats in verdict.replicas[:SUMMARY_REPLICAS_MAX]:
        band = f"{stats.band[0]:.1%} to {stats.band[1]:.1%}" if stats.band else "-"
        zone = [_code(stats.zone, in_table=True) if stats.zone else "-"] if zoned else []
        cells = [_code(stats.replica, in_table=True), *zone, str(stats.count), f"{stats.share:.1%}"]
        parts.append("| " + " | ".join([*cells, f"{stats.deviation:+.1%}", band]) + " |")
    left_out = len(verdict.replicas) - SUMMARY_REPLICAS_MAX
    if left_out > 0:
        parts.append(f"\n{left_out} more replicas: the JSON and the HTML report list every one.")
    if verdict.replicas:
        parts += ["", _text(expected_share_line(verdict))]
    lines = [*statistics_lines(verdict, tally), *health_and_note_lines(verdict, tally)]
    lines = [line for line in lines if not line.startswith("node ")][:40]  # the balancer nodes: the report's
    lines += ["", verdict.sentence, verdict_line(verdict)]
    parts += ["", *_block(lines)]
    if report is not None:
        parts += ["", f"HTML report with charts: {_code(os.path.basename(report))}, kept with this run's artifacts."]
    return _bounded("\n".join(parts) + "\n\n")


def error_markdown(outcome: str, reason: str, url: str | None) -> str:
    """The summary of a run that stopped without a report: could not measure, or interrupted."""
    title = "could not measure" if outcome == "error" else outcome
    parts = [f"### verify: {title} ❌", ""]
    if url is not None:
        parts += [_code(url), ""]
    return _bounded("\n".join([*parts, *_block([f"verify: {reason}"])]) + "\n\n")


def _block(lines: list[str]) -> list[str]:
    """A fenced block: Markdown shows it as it is. Its fence is longer than any run of backticks inside."""
    lines = [line if len(line) <= LINE_MAX else line[: LINE_MAX - 1] + "…" for line in lines]
    longest = max((len(run) for line in lines for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}text", *lines, fence]


def _code(text: str, *, in_table: bool = False) -> str:
    """An inline code span around `text` (cut to LINE_MAX), whatever backticks it holds."""
    text = text[:LINE_MAX]
    if in_table:
        text = text.replace("|", "\\|")  # GitHub splits table cells at a pipe even inside code
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith(("`", " ")) or text.endswith(("`", " ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _text(text: str) -> str:
    """Words of verify's own, every punctuation mark escaped: nothing in them turns into markup."""
    return _PUNCTUATION.sub(r"\\\1", text[:LINE_MAX])


def _bounded(markdown: str) -> str:
    data = markdown.encode("utf-8")
    if len(data) <= SUMMARY_BYTES_MAX:
        return markdown
    return data[: SUMMARY_BYTES_MAX - 64].decode("utf-8", "ignore") + "\n\n(cut at 64 KiB)\n\n"
