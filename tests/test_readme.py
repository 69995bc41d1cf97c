"""The README and docs/ stay true to the code: config keys and defaults, set-up commands, and what the code computes."""

import re
from pathlib import Path

import pytest

import settings
import stack_config
from components.errors import SettingsError
from estimate.cli import build_parser as estimate_parser
from estimate.cli import estimates
from estimate.cost import markdown_table
from rehearsal.cli import build_parser as rehearsal_parser
from rehearsal.deploy import expected_seconds
from rehearsal.flow import FLOW_BOUND_FACTOR, FLOW_BOUND_SLACK_S, LEAD_S
from rehearsal.plan import Plan
from tests.docs_text import README, doc
from verify.sources.phases import UNTIL_MARK_TAIL_S

ROOT = Path(__file__).resolve().parents[1]
CONFIGURATION = doc("configuration").split("\n## Outputs\n", 1)[0]


def config_rows() -> dict[str, list[str]]:
    rows = {}
    for line in CONFIGURATION.splitlines():
        match = re.match(r"^\| `([A-Za-z]+)` \| (.+)\|$", line)
        if match:
            rows[match.group(1)] = [cell.strip() for cell in match.group(2).split("|")]
    return rows


def test_every_config_key_is_in_the_readme_with_its_type_and_default():
    rows = config_rows()
    for key, spec in stack_config.config_schema().items():
        assert key in rows, f"docs/configuration.md's table lacks {key}"
        kind, default = rows[key][0], rows[key][1]
        assert kind == spec["type"], key
        if "default" in spec:
            shown = str(spec["default"]).lower() if isinstance(spec["default"], bool) else str(spec["default"])
            shown = shown or '""'
            assert default == f"`{shown}`", f"{key}: docs say {default}, Pulumi.yaml says {shown}"


def test_the_dev_and_prod_columns_are_the_values_each_stack_runs_with():
    rows, defaults = config_rows(), stack_config.cli_config("defaults", {})
    for column, stack in ((2, "dev"), (3, "prod")):
        for key, value in stack_config.cli_config(stack, stack_config.stack_file_values(stack)).items():
            shown = "`" + (value or '""') + "`"
            allowed = {shown, "same"} if value == defaults[key] else {shown}
            assert rows[key][column] in allowed, f"{stack} runs with {key} {value!r}; docs say {rows[key][column]}"


def test_the_docs_list_no_key_the_program_does_not_have():
    known = set(stack_config.config_schema())
    assert set(config_rows()) <= known


def test_the_two_setup_commands_exist_and_ci_runs_the_test_one():
    readme = README.read_text()
    assert "make rehearsal" in readme and "make test" in readme
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^rehearsal: deps$", makefile, re.M) and re.search(r"^test: deps lint$", makefile, re.M)
    assert "make test" in (ROOT / ".ci/run").read_text()


def test_the_cost_table_is_what_the_cost_function_gives_for_dev_and_prod():
    table = markdown_table({stack: estimates(stack)["estimated_monthly_cost"] for stack in ("dev", "prod")})
    assert table in doc("cost"), "regenerate it: python -m estimate --markdown --stack dev --stack prod"


def test_the_deploy_rehearsal_s_plan_and_bound_quoted_are_what_the_rehearsal_uses():
    bullet = " ".join(doc("rehearsal").split("- `--time-scale F`", 1)[1].split("\n- ", 1)[0].split())
    planned, lead, tail, factor, slack = re.search(
        r"the deploy is planned to take ([\d.]+) s .* verify measures from ([\d.]+) s before it until it has ended"
        r" and ([\d.]+) s more, within a bound of (\d+) × the plan \+ ([\d.]+) s",
        bullet,
    ).groups()
    plan = Plan.from_settings(settings.from_stack_file("dev")).with_deploy_slots()
    assert float(planned) == expected_seconds(plan, drain=True)
    assert (float(lead), float(tail)) == (LEAD_S, UNTIL_MARK_TAIL_S)
    assert (int(factor), float(slack)) == (FLOW_BOUND_FACTOR, FLOW_BOUND_SLACK_S)


def test_the_bad_settings_example_is_the_one_line_pulumi_prints():
    example = CONFIGURATION.split("```\nerror: ", 1)[1].split("\n```", 1)[0]
    with pytest.raises(SettingsError) as raised:
        settings.parse_settings({"replicas": "0", "memory": "4096"}, project="alb-replicas", stack="dev")
    assert example == raised.value.one_line()


@pytest.mark.parametrize(("parser", "topic"), [(rehearsal_parser, "rehearsal"), (estimate_parser, "cost")])
def test_every_option_of_the_rehearsal_and_the_estimate_is_in_its_doc(parser, topic):
    text = doc(topic)
    for action in parser()._actions:
        for option in action.option_strings:
            if option.startswith("--") and option != "--help":
                assert re.search(rf"{option}\b", text), f"docs/{topic}.md does not mention {option}"
