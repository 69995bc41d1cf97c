"""The HTML report in a real browser: Debian's headless Chromium, started and stopped here, shows what a
person would see (a chart per section, a bar and a band per replica, the verdict in words), and lays it
out readably at every width (tick labels apart, every label inside its chart and the page, the timeline's
table short with every second folded away).

scripts/install-deps installs chromium; a machine without it fails these tests, as one without haproxy
or nginx fails the rehearsal's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import os
import shutil
import signal
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image
from verify_helpers import build_tally, rolling_deploy

from verify.core.tally import ConnectionLog, Phase, Second
from verify.judging.evidence import Expectation
from verify.judging.judge import judge
from verify.rendering.html import render_html

# Headless, and nothing on the network: no QUIC, no background fetches, no component or sync traffic.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)  # fmt: skip
CHROMIUM_TIMEOUT_S = 60
WINDOW = (1200, 3000)
ZONES = (("10.0.1.0/24", "zone-a"), ("10.0.2.0/24", "zone-b"))


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not on PATH: run make deps (scripts/install-deps installs Debian's chromium)")
    return path


def run_chromium(chromium: str, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium with a fresh profile, in a process group of its own that is killed whole
    afterwards (its zygote and helpers too)."""
    profile = folder / f"profile-{len(list(folder.glob('profile-*')))}"
    profile.mkdir()
    process = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=CHROMIUM_TIMEOUT_S)
    finally:
        with contextlib.suppress(ProcessLookupError):  # nothing left of it
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@dataclasses.dataclass
class Seen:
    """What the browser made of a page: its DOM as Chromium serialised it, and a screenshot."""

    dom: str
    screenshot: Image.Image
    replicas_judged: list[str]
    replicas_in_run: list[str]


def open_in_chromium(chromium: str, folder: Path, tally, expectation: Expectation) -> Seen:
    verdict = judge(tally, expectation)
    page = io.StringIO()
    render_html(verdict, tally, page)
    path = folder / "report.html"
    path.write_text(page.getvalue())
    dom = run_chromium(chromium, folder, "--dump-dom", path.as_uri())
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-2000:]
    picture = folder / "screenshot.png"
    shot = run_chromium(chromium, folder, f"--screenshot={picture}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                        path.as_uri())  # fmt: skip
    assert shot.returncode == 0 and picture.exists(), shot.stderr[-2000:]
    return Seen(
        dom.stdout, Image.open(picture).convert("RGB"), [s.replica for s in verdict.replicas], sorted(tally.counts)
    )


@pytest.fixture(scope="module")
def deploy_page(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Seen:
    """A rolling deploy with failed requests (so --max-error-rate 0 fails it) and the deploy's phases."""
    tally = dataclasses.replace(
        rolling_deploy({4: {"HTTP 502": 3}, 5: {"connection reset": 2}}),
        phases=(Phase(2.6, "started and registered 3 new replicas"), Phase(4.2, "new replicas healthy")),
    )
    expectation = Expectation(replica_range=(3, 3), max_error_rate=0, subnets=ZONES)
    return open_in_chromium(chromium, tmp_path_factory.mktemp("deploy"), tally, expectation)


@pytest.fixture(scope="module")
def even_page(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> Seen:
    tally = build_tally({"10.0.1.5": 100, "10.0.2.6": 100, "10.0.1.7": 100, "10.0.2.8": 100})
    expectation = Expectation(replica_range=(4, 4), subnets=ZONES)
    return open_in_chromium(chromium, tmp_path_factory.mktemp("even"), tally, expectation)


class Dom(HTMLParser):
    """Per section: its heading, its <svg> charts, the ids of the groups drawn in them; the verdict's text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: dict[str, dict] = {}
        self.header: list[str] = []
        self._section: dict | None = None
        self._in_header = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section":
            self._section = self.sections.setdefault(attributes["id"] or "", {"charts": 0, "groups": []})
        elif tag == "header":
            self._in_header = True
        elif tag == "svg" and self._section is not None:
            self._section["charts"] += 1
        elif tag == "g" and self._section is not None and attributes.get("id"):
            self._section["groups"].append(attributes["id"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "header":
            self._in_header = False

    def handle_data(self, data: str) -> None:
        if self._in_header and data.strip():
            self.header.append(data.strip())


def groups(dom: Dom, section: str, prefix: str) -> list[str]:
    return [group for group in dom.sections[section]["groups"] if group.startswith(prefix)]


def pixels(image: Image.Image, color: str) -> int:
    """How many pixels of the screenshot are exactly this colour (a bar's fill, away from its edges)."""
    rgb = tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))
    return dict((colour, count) for count, colour in image.getcolors(image.width * image.height)).get(rgb, 0)


def colour_of(dom_text: str, group_id: str) -> str:
    """The fill matplotlib gave a group's shape: the first `fill: #rrggbb` after the group's id."""
    at = dom_text.index(f'id="{group_id}"')
    return dom_text[dom_text.index("fill: #", at) + len("fill: ") :][:7]


def test_a_chart_per_section_and_the_verdict_in_words(deploy_page: Seen) -> None:
    dom = Dom(deploy_page.dom)
    assert {name: section["charts"] for name, section in dom.sections.items()} == {
        "split": 1, "zones": 1, "timeline": 1, "statistics": 0,
    }  # fmt: skip
    assert dom.header[0] == "UNEVEN"
    assert dom.header[1].startswith("verdict: UNEVEN: error rate 0.3% (5 of 1805) is above --max-error-rate 0.0%")
    assert dom.header[2].startswith("The counts alone look even, but another check fails (see the verdict)")


def test_one_bar_per_replica_judged_and_one_band_per_replica_of_the_run(deploy_page: Seen) -> None:
    dom = Dom(deploy_page.dom)
    assert len(groups(dom, "split", "replica-bar-")) == len(deploy_page.replicas_judged) == 3
    assert len(groups(dom, "timeline", "replica-band-")) == len(deploy_page.replicas_in_run) == 6
    assert {group.split("-")[1] for group in groups(dom, "timeline", "errors-")} == {"0", "1"}  # 502, reset
    assert len(groups(dom, "timeline", "phase-")) == 2 * 2  # both phases, on both charts
    assert len(groups(dom, "zones", "zone-bar-")) == 2 and len(groups(dom, "zones", "node-bar-")) == 1


def test_the_screenshot_shows_each_replicas_bar_and_the_verdict_colour(deploy_page: Seen, even_page: Seen) -> None:
    for seen, banner in ((deploy_page, "#b52222"), (even_page, "#2c7a2c")):
        assert pixels(seen.screenshot, banner) > 20_000, banner  # the verdict's band across the top
        for index in range(len(seen.replicas_judged)):
            fill = colour_of(seen.dom, f"replica-bar-{index}")
            assert pixels(seen.screenshot, fill) > 500, (index, fill)  # a bar a person sees
        for section, prefix in (("zones", "zone-bar-0"), ("zones", "node-bar-0")):
            assert pixels(seen.screenshot, colour_of(seen.dom, prefix)) > 500, (section, prefix)
        # Labels inside the page: nothing drawn in its margins, the first 16 pixels from either side.
        for margin in ((0, 0, 16, WINDOW[1]), (WINDOW[0] - 16, 0, WINDOW[0], WINDOW[1])):
            assert seen.screenshot.crop(margin).getcolors() == [(16 * WINDOW[1], (255, 255, 255))], margin
    white = pixels(even_page.screenshot, "#ffffff")
    assert white < WINDOW[0] * WINDOW[1] * 0.95  # not a blank page


# Added to a copy of a page (the page itself runs no script: its Content-Security-Policy forbids it): once
# laid out, Chromium measures each chart's tick labels per axis and every text of it, the page's width and
# whether each timeline table shows, into a <pre> that --dump-dom prints.
MEASURE = """<script>
const box = (node) => {
  const r = node.getBoundingClientRect();
  return [r.left, r.right, r.top, r.bottom, node.textContent];
};
const all = (root, selector) => [...root.querySelectorAll(selector)].map(box);
const shows = (id) => document.getElementById(id).checkVisibility();
const measured = {
  width: document.documentElement.clientWidth,
  scroll_width: document.documentElement.scrollWidth,
  charts: [...document.querySelectorAll("div.chart svg")].map((svg) => ({
    box: box(svg),
    texts: all(svg, "text"),
    axes: [...svg.querySelectorAll('g[id^="matplotlib.axis"]')].map((axis) => ({
      x: all(axis, 'g[id^="xtick"] text'), y: all(axis, 'g[id^="ytick"] text') })),
  })),
  eventful_table: shows("timeline-table"),
  every_second_table: shows("timeline-all"),
};
const pre = document.createElement("pre");
pre.id = "measured";
pre.textContent = JSON.stringify(measured);
document.body.appendChild(pre);
</script>"""


def canary_deploy(seconds: int, per_second: int) -> tuple:
    """A canary deploy of 3 replicas over two balancer nodes as the rehearsal runs it (blue, 10 % to green,
    all to green), `per_second` answers a second: at 4,000 over a minute, about 125,000 a node, where the
    node chart's tick labels ran together ("75000100000125000")."""
    blue, green = ("127.0.1.10", "127.0.2.10", "127.0.1.11"), ("127.0.2.11", "127.0.1.12", "127.0.2.12")
    timeline = []
    for second in range(seconds):
        share = 0.0 if second < seconds // 4 else 0.1 if second < seconds // 2 else 1.0
        answers = {r: round(per_second * (1 - share) / 3) for r in blue if share < 1}
        answers.update({r: round(per_second * share / 3) for r in green if share > 0})
        timeline.append(Second(second, sum(answers.values()), {}, answers))
    counts = {r: sum(entry.replicas.get(r, 0) for entry in timeline) for r in (*blue, *green)}
    half = sum(counts.values()) // 2
    nodes = [ConnectionLog("127.0.1.1", answers=half), ConnectionLog("127.0.2.1", answers=sum(counts.values()) - half)]
    tally = build_tally(counts, warmup=blue, connections=nodes, addresses=("127.0.1.1", "127.0.2.1"))
    phases = (Phase(seconds / 4, "production shift 1 of 2: 10 % to green"), Phase(seconds / 2, "shift 2 of 2"))
    tally = dataclasses.replace(tally, duration_s=float(seconds), elapsed_s=float(seconds), timeline=timeline,
                                phases=phases)  # fmt: skip
    zones = (("127.0.1.0/24", "zone-a"), ("127.0.2.0/24", "zone-b"))
    return tally, Expectation(replica_range=(3, 3), subnets=zones)


def measured_in_chromium(chromium: str, folder: Path, tally, expectation: Expectation, width: int) -> dict:
    """The report of `tally` as Chromium lays it out in a window `width` pixels wide (see MEASURE), and
    the page itself in a screenshot of that window ("screenshot")."""
    page = io.StringIO()
    render_html(judge(tally, expectation), tally, page)
    text = page.getvalue()
    path = folder / "report.html"
    path.write_text(text)
    picture = folder / f"screenshot-{width}.png"
    shot = run_chromium(chromium, folder, f"--screenshot={picture}", f"--window-size={width},2000", path.as_uri())
    assert shot.returncode == 0 and picture.exists(), shot.stderr[-2000:]
    policy = text.index("<meta http-equiv='Content-Security-Policy'")
    text = text[:policy] + text[text.index(">", policy) + 1 :]
    measuring = folder / "measured.html"
    measuring.write_text(text.replace("</body>", MEASURE + "</body>"))
    dom = run_chromium(chromium, folder, f"--window-size={width},2000", "--dump-dom", measuring.as_uri())
    assert dom.returncode == 0 and '<pre id="measured">' in dom.stdout, dom.stderr[-2000:]
    measured = dom.stdout.split('<pre id="measured">', 1)[1].split("</pre>", 1)[0]
    found = json.loads(measured.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    return {**found, "screenshot": Image.open(picture).convert("RGB")}


@pytest.mark.parametrize(("seconds", "per_second", "width"), [(60, 4000, 640), (3600, 3000, 1200)])
def test_tick_labels_stand_apart_and_every_label_is_inside_its_chart_and_the_page(
    chromium: str, tmp_path: Path, seconds: int, per_second: int, width: int
) -> None:
    """A canary deploy whose nodes answered 125,000 requests each, in a narrow window (a chart scales with the
    page, its labels with it: apart at one width, apart at all), and an hour in a wide one."""
    measured = measured_in_chromium(chromium, tmp_path, *canary_deploy(seconds, per_second), width)
    width = measured["width"]  # the window's, but its scroll bar
    assert measured["scroll_width"] <= width, "nothing wider than the window"
    # In the screenshot, the page's margins hold nothing: the first and last 8 pixels of every line are white.
    height = measured["screenshot"].height
    for margin in ((0, 0, 8, height), (width - 8, 0, width, height)):
        assert measured["screenshot"].crop(margin).getcolors() == [(8 * height, (255, 255, 255))], margin
    assert len(measured["charts"]) == 3
    for chart in measured["charts"]:
        left, right, top, bottom, _ = chart["box"]
        assert left > 0 and right < width, chart["box"]  # a margin on both sides
        for text_left, text_right, text_top, text_bottom, text in chart["texts"]:
            inside = left <= text_left and text_right <= right and top <= text_top and text_bottom <= bottom
            assert inside, (text, (text_left, text_right, text_top, text_bottom), chart["box"])
        for axis in chart["axes"]:
            for along, labels in (("x", axis["x"]), ("y", axis["y"])):
                # Apart by half a label's height at least: a space a reader sees between two numbers.
                spans = sorted((a, b) if along == "x" else (c, d) for a, b, c, d, _ in labels)
                gaps = [start - end for (_, end), (start, _) in itertools.pairwise(spans)]
                height = max((d - c for _, _, c, d, _ in labels), default=0)
                assert all(gap >= height / 2 for gap in gaps), (along, [label[-1] for label in labels], gaps, height)
    assert measured["eventful_table"] and not measured["every_second_table"], "every second folded away"
