"""docs/verify.md stays true to the code: exit codes, JSON keys, options, default request counts."""

from __future__ import annotations

import re

from tests.docs_text import doc
from verify.cli import ExitCode, build_parser
from verify.judging.evidence import default_requests
from verify.rendering.terminal import REPORT_KEYS

SECTION = doc("verify")


def test_the_exit_code_table_is_the_exit_code_enum() -> None:
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \|", SECTION, re.M)
    assert [int(code) for code, _ in rows] == [int(code) for code in ExitCode]


def test_the_json_keys_are_listed_in_order() -> None:
    bullet = SECTION.split("- `--json` prints exactly one object", 1)[1].split("\n\n", 1)[0]
    named = re.findall(r"`(\w+)`", bullet.split("the same keys, `null` where unknown:", 1)[1])
    assert list(dict.fromkeys(name for name in named if name in REPORT_KEYS)) == list(REPORT_KEYS)


def test_every_option_is_in_the_section() -> None:
    for action in build_parser()._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert re.search(rf"{option}\b", SECTION), f"docs/verify.md does not mention {option}"


def test_the_default_request_counts_quoted_are_the_code_s() -> None:
    quoted = SECTION.split("`--requests` defaults to", 1)[1].split("The power comes from", 1)[0]
    assert default_requests(2) > 300, "the floor no longer decides any count"
    for count, replicas in re.findall(r"([\d,]+) for (\d+)", quoted):
        assert int(count.replace(",", "")) == default_requests(int(replicas)), f"{replicas} replicas"
