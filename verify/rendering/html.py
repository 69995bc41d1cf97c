"""The HTML report (--report FILE.html): one self-contained page from the verdict and the tally that the
terminal report and the JSON render, with the same numbers in the same formats.

matplotlib draws each chart as static SVG inlined in the page: no script, nothing fetched (the page's
Content-Security-Policy forbids every fetch), so it opens offline and as a CI artifact, and a chart is
a few tens of KB where plotly would embed its several MB of JavaScript in every file. One section per
subject, each with its chart and the numbers as a table: the split per replica against the expected
share and its band; the zones and balancer nodes; for a --duration run the timeline (answers per
replica per second, errors by kind, changes of the replica set, phases marked by --phases); then the
statistics and the verdict in words. Ids and texts from servers are escaped; the size is bounded by
MAX_REPLICA_IDS and TIMELINE_POINTS_MAX, whatever the run.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TextIO, TypeVar

import matplotlib
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.ticker import Formatter, MaxNLocator

from verify.core.replica_ids import replica_sort_key
from verify.core.tally import Phase, Second, Tally
from verify.judging.judge import Verdict
from verify.rendering.terminal import (
    change_moves,
    expected_share_line,
    health_and_note_lines,
    ms,
    run_line,
    second_errors,
    statistics_lines,
    timeline_rows,
    verdict_line,
)

# Points drawn on the timeline chart, over all its lines, and steps along it (about its width in pixels):
# beyond either, seconds are averaged in buckets.
TIMELINE_POINTS_MAX = 10_000
TIMELINE_STEPS_MAX = 600
# Space a tick label takes along an axis, in ems of its font: along x a count of up to 5 characters
# ("12.5k") and a gap (matplotlib's own guess, 3 ems, ran the node chart's labels together:
# "75000100000125000"), along y a line and a gap.
TICK_LABEL_EMS = {"x": 4.5, "y": 3.0}
# Marks (phases, changes) closer than this share of the timeline's width share one label: "P4-6".
MARK_LABEL_GAP = 0.025
# Replicas named in a chart's legend or tick labels; the tables below name every one.
LEGEND_REPLICAS_MAX = 20
BAR_LABELS_MAX = 60
# Error kinds drawn apart; the rest are one "other" layer.
ERROR_KINDS_MAX = 8
LABEL_MAX = 32  # characters of an id in a chart (the tables give it whole)
T = TypeVar("T")

_GOOD, _BAD, _NEUTRAL, _PHASE, _ZONE = "#2ca02c", "#d62728", "#555555", "#6a3d9a", "#5b7fa6"
# Replicas' colours: matplotlib's tab10 then tab20's light shades, leaving out green and red (which say
# good and bad here), so a replica's colour is read as its name only.
_PALETTE = (
    "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)  # fmt: skip
# matplotlib's settings for every chart: text as SVG text (small, selectable, found by a search) in the
# page's font (one name: matplotlib writes its whole list of fallbacks into every text), no mathtext (an
# id like "$x" must print as it came), and ids in the SVG that stay the same run to run.
_STYLE = {
    "svg.fonttype": "none",
    "font.sans-serif": ["DejaVu Sans"],
    "svg.hashsalt": "verify-report",
    "text.parse_math": False,
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_CSS = """
body { font-family: "DejaVu Sans", Arial, sans-serif; margin: 1.5em auto; max-width: 72em; color: #222;
       padding: 0 1em; }
header { padding: 0.6em 1em; border-radius: 6px; color: #fff; }
header.even { background: #2c7a2c; } header.uneven { background: #b52222; }
header h1 { margin: 0 0 0.2em; font-size: 2em; } header p { margin: 0.2em 0; }
section { margin-top: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; } td.outside { color: #b52222; font-weight: bold; }
tr.phase td { color: #6a3d9a; } .chart svg { max-width: 100%; height: auto; }
details summary { cursor: pointer; color: #444; }
ul.lines { font-family: "DejaVu Sans Mono", monospace; font-size: 0.85em; padding-left: 1.2em; }
"""


def render_html(verdict: Verdict, tally: Tally, out: TextIO) -> None:
    """The whole page, written to `out`."""
    colors = _replica_colors(tally, verdict)
    word = "EVEN" if verdict.even else "UNEVEN"
    out.write(
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>\n"
        # Nothing the page names is fetched, whatever an id or a URL in it says.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        f"<title>verify: {word} {_e(tally.url)}</title>\n<style>{_CSS}</style></head><body>\n"
        f"<header class='{verdict.verdict}' id='verdict'><h1>{word}</h1>"
        f"<p>{_e(verdict_line(verdict))}</p><p>{_e(verdict.sentence)}</p></header>\n"
        f"<p>verify {_e(tally.url)}<br>balancer nodes: {len(tally.addresses)} address(es) the name resolved to"
        f" ({_e(', '.join(tally.addresses))})<br>{_e(run_line(verdict, tally))}</p>\n"
    )
    with matplotlib.rc_context(_STYLE):
        _split_section(verdict, colors, out)
        _zones_section(verdict, tally, out)
        if tally.duration_s is not None:
            _timeline_section(verdict, tally, colors, out)
    out.write("<section id='statistics'><h2>Statistics</h2>")
    lines = [*statistics_lines(verdict, tally), *health_and_note_lines(verdict, tally)]
    out.write(f"<ul class='lines'>{''.join(f'<li>{_e(line)}</li>' for line in lines)}</ul>")
    out.write(f"<p>{_e(verdict.sentence)}</p><p><strong>{_e(verdict_line(verdict))}</strong></p></section>\n")
    out.write("</body></html>\n")


def _split_section(verdict: Verdict, colors: dict[str, str], out: TextIO) -> None:
    replicas = verdict.replicas
    out.write("<section id='split'><h2>Split per replica</h2>\n")
    if replicas:
        fig = Figure(figsize=(9, 1.4 + 0.32 * min(len(replicas), BAR_LABELS_MAX)), layout="constrained")
        ax = fig.add_subplot()
        band = replicas[0].band
        positions = range(len(replicas))
        if len({stats.expected_share for stats in replicas}) == 1:
            if band is not None:
                ax.axvspan(band[0] * 100, band[1] * 100, color=_GOOD, alpha=0.15, gid="band",
                           label=f"band {band[0]:.1%} to {band[1]:.1%}")  # fmt: skip
            ax.axvline(replicas[0].expected_share * 100, color=_NEUTRAL, linestyle="--", gid="expected",
                       label=f"expected {replicas[0].expected_share:.1%}")  # fmt: skip
        else:  # --expect-weights: each replica's own expected share and band, across its bar
            for index, stats in enumerate(replicas):
                if stats.band is not None:
                    ax.fill_betweenx([index - 0.45, index + 0.45], stats.band[0] * 100, stats.band[1] * 100,
                                     color=_GOOD, alpha=0.15, gid=f"band-{index}",
                                     label="band" if index == 0 else None)  # fmt: skip
                ax.vlines(stats.expected_share * 100, index - 0.45, index + 0.45, color=_NEUTRAL, linestyle="--",
                          gid=f"expected-{index}", label="expected" if index == 0 else None)  # fmt: skip
            band = max((stats.band for stats in replicas if stats.band is not None), key=lambda b: b[1], default=None)
        bars = ax.barh(
            positions, [stats.share * 100 for stats in replicas], color=[colors[s.replica] for s in replicas]
        )
        for index, bar in enumerate(bars):
            bar.set_gid(f"replica-bar-{index}")
        if len(replicas) <= BAR_LABELS_MAX:
            ax.set_yticks(positions, [_label(stats.replica) for stats in replicas])
            ax.bar_label(bars, [f"{stats.count} ({stats.share:.1%})" for stats in replicas], padding=3, fontsize=8)
        else:
            ax.set_yticks([])
            ax.set_ylabel(f"{len(replicas)} replicas (the table names each)")
        ax.invert_yaxis()  # the first replica on top, as in the table
        ax.set_xlabel("share of the answers judged (%)")
        ax.set_xlim(0, max(100 * max(s.share for s in replicas), 100 * (band[1] if band else 0)) * 1.18 + 1)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
        out.write(_svg(fig))
    out.write(f"<p>{_e(expected_share_line(verdict)) if replicas else 'No replica answered.'}</p>\n")
    zoned = any(stats.zone for stats in replicas)
    head = ["replica", *(["zone"] if zoned else []), "answers", "share", "vs even", "band", "p50 ms", "p95 ms"]
    rows = []
    for stats in replicas:
        band_text = f"{stats.band[0]:.1%} to {stats.band[1]:.1%}" if stats.band else "-"
        outside = stats.band is not None and not stats.band[0] <= stats.share <= stats.band[1]
        cells = [
            _cell(stats.replica, "text"),
            *([_cell(stats.zone or "-", "text")] if zoned else []),
            _cell(str(stats.count)),
            _cell(f"{stats.share:.1%}", "outside" if outside else ""),
            _cell(f"{stats.deviation:+.1%}"),
            _cell(band_text),
            _cell(ms(stats.p50_ms)),
            _cell(ms(stats.p95_ms)),
        ]
        rows.append(cells)
    all_row = ["all", *([""] if zoned else []), str(verdict.evidence.answers), "", "", ""]
    all_row += [ms(verdict.latency_p50_ms), ms(verdict.latency_p95_ms)]
    rows.append([_cell(text) for text in all_row])
    out.write(_table("replicas", head, rows) + "</section>\n")


def _zones_section(verdict: Verdict, tally: Tally, out: TextIO) -> None:
    nodes = tally.node_counts()
    out.write("<section id='zones'><h2>Zones and balancer nodes</h2>\n")
    charts = (1 if verdict.zones else 0) + (1 if nodes else 0)
    if charts:
        fig = Figure(figsize=(9, 1.4 + 0.3 * min(max(len(verdict.zones), len(nodes)), BAR_LABELS_MAX)),
                     layout="constrained")  # fmt: skip
        axes = fig.subplots(1, charts, squeeze=False)[0]
        if verdict.zones:
            ax = axes[0]
            bars = ax.barh(range(len(verdict.zones)), [zone.count for zone in verdict.zones], color=_ZONE)
            ax.set_yticks(range(len(verdict.zones)), [_label(zone.zone) for zone in verdict.zones])
            ax.bar_label(bars, [f"{zone.count} ({zone.share:.1%})" for zone in verdict.zones], padding=3, fontsize=8)
            for index, bar in enumerate(bars):
                bar.set_gid(f"zone-bar-{index}")
            ax.invert_yaxis()
            ax.set_title("answers judged per zone", fontsize=10)
            ax.margins(x=0.25)
            _count_ticks(ax.xaxis)
        if nodes:
            ax = axes[-1]
            positions = range(len(nodes))
            answered = ax.barh(positions, [node.answers for node in nodes], color=_GOOD, label="answers")
            ax.barh(positions, [node.errors for node in nodes], left=[node.answers for node in nodes], color=_BAD,
                    label="errors")  # fmt: skip
            for index, bar in enumerate(answered):
                bar.set_gid(f"node-bar-{index}")
            if len(nodes) <= BAR_LABELS_MAX:
                ax.set_yticks(positions, [_label(node.address) for node in nodes])
            ax.invert_yaxis()
            ax.set_title("requests per balancer node (whole run)", fontsize=10)
            _count_ticks(ax.xaxis)
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
        out.write(_svg(fig))
    if verdict.zones:
        rows = [[_cell(z.zone, "text"), _cell(str(z.replicas)), _cell(str(z.count)), _cell(f"{z.share:.1%}")]
                for z in verdict.zones]  # fmt: skip
        out.write(_table("zones-table", ["zone", "replicas", "answers", "share"], rows))
    rows = [[_cell(n.address, "text"), _cell(str(n.requests)), _cell(str(n.answers)), _cell(str(n.errors))]
            for n in nodes]  # fmt: skip
    out.write(_table("nodes", ["balancer node", "requests", "answers", "errors"], rows) + "</section>\n")


def _timeline_section(verdict: Verdict, tally: Tally, colors: dict[str, str], out: TextIO) -> None:
    changes = verdict.evidence.replica_changes or ()
    out.write(f"<section id='timeline'><h2>Timeline of {tally.duration_s:g} s</h2>\n")
    if tally.timeline:
        out.write(_svg(_timeline_figure(verdict, tally, colors)))
    changed = {change.second: change for change in changes}
    numbers = {phase: number for number, phase in enumerate(tally.phases or (), 1)}  # P1, P2... on the chart
    head = ["second", "requests", "answers", "replicas answering", "changes", "errors"]

    def rows(listed: list[Second | Phase]) -> list[Sequence[str] | str]:
        made: list[Sequence[str] | str] = []
        for row in listed:
            if isinstance(row, Phase):
                text = f"P{numbers[row]} phase: {row.text}"
                made.append(
                    f"<tr class='phase'>{_cell(f'{row.second:.1f}')}<td class='text' colspan='5'>{_e(text)}</td></tr>"
                )
                continue
            made.append([
                _cell(str(row.second)),
                _cell(str(row.requests)),
                _cell(str(row.answers)),
                _cell(str(len(row.replicas))),
                _cell(" ".join(change_moves(changed.get(row.second))), "text"),
                _cell(second_errors(row), "text"),
            ])  # fmt: skip
        return made

    eventful = timeline_rows(tally, changes, eventful=True)
    shown = sum(not isinstance(row, Phase) for row in eventful)
    out.write(
        f"<p>The seconds where something happened ({shown} of {len(tally.timeline)}): the first and the last,"
        " each change of the replica set, each with errors, each phase.</p>"
    )
    out.write(_table("timeline-table", head, rows(eventful)))
    out.write(f"<details id='timeline-every-second'><summary>Every second ({len(tally.timeline)})</summary>")
    out.write(_table("timeline-all", head, rows(timeline_rows(tally, changes, eventful=False))))
    out.write("</details></section>\n")


def _timeline_figure(verdict: Verdict, tally: Tally, colors: dict[str, str]) -> Figure:
    """Answers per replica per second above, errors per second by kind below; changes and phases marked."""
    seconds = [entry.second for entry in tally.timeline]
    replicas = sorted({r for entry in tally.timeline for r in entry.replicas}, key=replica_sort_key)
    span = seconds[-1] - seconds[0] + 1
    bucket = max(1, math.ceil(span * max(1, len(replicas)) / TIMELINE_POINTS_MAX), math.ceil(span / TIMELINE_STEPS_MAX))
    starts = list(range(seconds[0], seconds[-1] + 1, bucket))

    def per_bucket(counts_of: Callable[[Second], dict[str, int]], names: Sequence[str]) -> dict[str, list[int]]:
        """Each name's counts summed per bucket, in one pass over the timeline."""
        sums = {name: [0] * len(starts) for name in names}
        for entry in tally.timeline:
            index = (entry.second - seconds[0]) // bucket
            for name, count in counts_of(entry).items():
                sums[name][index] += count
        return sums

    fig = Figure(figsize=(10, 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    xs = [*starts, starts[-1] + bucket]  # steps-post: each bucket drawn across its width
    # Stacked: an even split draws bands of equal height (lines would lie on one another), a replica
    # that appears or leaves is a band that starts or ends, and the top edge is all answers.
    layers = []
    for sums in per_bucket(lambda entry: entry.replicas, replicas).values():
        ys = [total / bucket for total in sums]
        layers.append([*ys, ys[-1]])
    bands = top.stackplot(xs, layers, step="post", colors=[colors[r] for r in replicas], linewidth=0.3,
                          edgecolor="white") if layers else []  # fmt: skip
    for index, (replica, band) in enumerate(zip(replicas, bands, strict=True)):
        band.set_gid(f"replica-band-{index}")
        if index < LEGEND_REPLICAS_MAX:
            band.set_label(_label(replica))
    if len(replicas) > LEGEND_REPLICAS_MAX:
        top.plot([], [], color="none", label=f"... {len(replicas) - LEGEND_REPLICAS_MAX} more replicas")
    judged = verdict.evidence.judged_after_second
    if judged is not None:
        top.axvspan(judged + 1, xs[-1], color=_GOOD, alpha=0.08, label="judged: after the last change", gid="judged")
    changes = verdict.evidence.replica_changes or ()
    for index, change in enumerate(changes):
        for ax, where in ((top, "top"), (bottom, "bottom")):
            ax.axvline(change.second, color=_NEUTRAL, linestyle=":", linewidth=1.2, gid=f"change-{index}-{where}")
    gap = MARK_LABEL_GAP * (xs[-1] - xs[0])
    for group in _close(changes, lambda change: change.second, gap):
        moves = f"+{sum(len(c.appeared) for c in group)} -{sum(len(c.disappeared) for c in group)}"
        top.annotate(moves, (group[0].second, 1), xycoords=("data", "axes fraction"), fontsize=8, color=_NEUTRAL,
                     ha="left", va="bottom")  # fmt: skip
    phases = tally.phases or ()
    for index, phase in enumerate(phases):
        for ax, where in ((top, "top"), (bottom, "bottom")):
            ax.axvline(phase.second, color=_PHASE, linestyle="--", linewidth=1.0, gid=f"phase-{index}-{where}")
    numbers = {phase: number for number, phase in enumerate(phases, 1)}
    for group in _close(phases, lambda phase: phase.second, gap):
        first, last = numbers[group[0]], numbers[group[-1]]
        top.annotate(f"P{first}" if first == last else f"P{first}-{last}", (group[0].second, 0.97),
                     xycoords=("data", "axes fraction"), fontsize=8, color=_PHASE, ha="right", va="top",
                     rotation=90)  # fmt: skip
    unit = "answers per second, per replica" + (f" (mean over {bucket} s)" if bucket > 1 else "")
    top.set_ylabel(unit)
    top.set_ylim(bottom=0)
    _count_ticks(top.yaxis, bottom.yaxis, bottom.xaxis)
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title="replicas")

    kinds = [kind for kind, _ in _error_totals(tally.timeline).most_common()]
    shown_kinds = kinds[:ERROR_KINDS_MAX]

    def kind_counts(entry: Second) -> dict[str, int]:  # the kinds beyond ERROR_KINDS_MAX as one, "other"
        counts: Counter[str] = Counter()
        for kind, count in entry.errors.items():
            counts[kind if kind in shown_kinds else "other"] += count
        return counts

    layers_of_errors = per_bucket(kind_counts, [*shown_kinds, *(["other"] if len(kinds) > ERROR_KINDS_MAX else [])])
    base = [0.0] * len(starts)
    palette = matplotlib.colormaps["Reds"]
    for index, (kind, heights) in enumerate(layers_of_errors.items()):  # errors are counted, not averaged
        bars = bottom.bar(starts, heights, width=bucket, bottom=base, align="edge", label=_label(kind),
                          color=palette(0.9 - 0.6 * index / max(1, len(layers_of_errors))))  # fmt: skip
        for number, bar in enumerate(bars):
            bar.set_gid(f"errors-{index}-{number}")
        base = [b + h for b, h in zip(base, heights, strict=True)]
    if layers_of_errors:
        bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, title="errors")
    else:
        bottom.text(0.5, 0.5, "no errors", transform=bottom.transAxes, ha="center", va="center", color=_GOOD)
    bottom.set_ylabel("errors" + (f" per {bucket} s" if bucket > 1 else " per second"))
    bottom.set_xlabel("seconds since the measurement began")
    bottom.set_ylim(bottom=0)
    return fig


def _close(marks: Sequence[T], second_of: Callable[[T], float], gap: float) -> list[list[T]]:
    """Marks in time order, grouped where each is within `gap` seconds of the one before: one label each."""
    groups: list[list[T]] = []
    for mark in marks:
        if groups and second_of(mark) - second_of(groups[-1][-1]) < gap:
            groups[-1].append(mark)
        else:
            groups.append([mark])
    return groups


class _SpacedTicks(MaxNLocator):
    """Whole-number ticks, no more than labels of TICK_LABEL_EMS fit along the axis at its drawn length."""

    def __init__(self) -> None:
        super().__init__(nbins=5, integer=True, min_n_ticks=2)

    def __call__(self) -> Sequence[float]:
        axis = self.axis
        box = axis.axes.get_window_extent()
        along_pt = (box.width if axis.axis_name == "x" else box.height) * 72 / axis.figure.dpi
        label_pt = TICK_LABEL_EMS[axis.axis_name] * matplotlib.rcParams["font.size"]
        self.set_params(nbins=max(1, math.floor(along_pt / label_pt)))
        return super().__call__()


def _count_ticks(*axes: Axis) -> None:
    """Counts along these axes with readable ticks: spaced for their labels, and short (12.5k, 1.2M)."""
    for axis in axes:
        axis.set_major_locator(_SpacedTicks())
        axis.set_major_formatter(_ShortCounts())


class _ShortCounts(Formatter):
    """A count in a few characters, in one unit along the axis: 0 8k 16k 24k; 0 250k 500k; 0 1.5M 3M."""

    def __call__(self, value: float, position: int | None = None) -> str:
        top = max(abs(end) for end in self.axis.get_view_interval())
        if top < 1e4 or value == 0:
            return f"{value:g}"
        if top < 1e6:
            return f"{round(value / 1e3, 1):g}k"
        return f"{round(value / 1e6, 2):g}M"


def _error_totals(timeline: Iterable) -> Counter[str]:
    totals: Counter[str] = Counter()
    for entry in timeline:
        totals.update(entry.errors)
    return totals


def _replica_colors(tally: Tally, verdict: Verdict) -> dict[str, str]:
    """One colour per replica that answered during the run (or was missed), the same in every chart."""
    replicas = sorted({*tally.counts, *(stats.replica for stats in verdict.replicas)}, key=replica_sort_key)
    return {replica: _PALETTE[index % len(_PALETTE)] for index, replica in enumerate(replicas)}


def _svg(fig: Figure) -> str:
    """The figure as an <svg> element to inline (without the XML prolog and doctype of a file), its
    coordinates to 0.01 pt (matplotlib writes six decimals: a third of the page for an hour's timeline)."""
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = _COORDINATES.sub(lambda found: found[1] + _DECIMALS.sub(r"\1", found[2]), text[text.index("<svg") :])
    return f"<div class='chart'>{text}</div>\n"


# The attributes whose values are coordinates (never a text from a server), and the digits beyond 0.01 in them.
_COORDINATES = re.compile(r'(\s(?:d|x|y|transform)=")([^"]*)')
_DECIMALS = re.compile(r"(\d\.\d\d)\d+")


def _label(text: str) -> str:
    return text if len(text) <= LABEL_MAX else text[: LABEL_MAX - 1] + "…"


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _cell(text: str, css: str = "") -> str:
    return f"<td class='{css}'>{_e(text)}</td>" if css and text else f"<td>{_e(text)}</td>"


def _table(table_id: str, head: Sequence[str], rows: Sequence[Sequence[str] | str]) -> str:
    """A table of escaped header names, and rows each of `_cell`s or a whole <tr> already made."""
    header = "".join(f"<th>{_e(name)}</th>" for name in head)
    body = "".join(row if isinstance(row, str) else f"<tr>{''.join(row)}</tr>" for row in rows)
    return f"<table id='{table_id}'><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>\n"
