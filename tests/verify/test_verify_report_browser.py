"""The HTML report in a real browser: Debian's headless Chromium, started and stopped here, shows what a
person would see (a chart per section, a bar and a band per replica, the verdict in words).

scripts/install-deps installs chromium; a machine without it fails these tests, as one without haproxy
or nginx fails the rehearsal's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import signal
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image
from verify_helpers import build_tally, rolling_deploy

from verify.core.tally import Phase
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
    white = pixels(even_page.screenshot, "#ffffff")
    assert white < WINDOW[0] * WINDOW[1] * 0.95  # not a blank page
