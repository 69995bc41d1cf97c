"""Pulumi.yaml and every Pulumi.<stack>.yaml pass the checks the Pulumi CLI makes before `pulumi up` runs.

The mocks run none of them. The CLI (pulumi/pulumi, sdk/go/common/workspace): refuses a project whose
default is not of its key's declared type; refuses a stack that leaves a key declared without a default
unset, or sets a value not of the declared type; writes every default into the stack's config, so the
program reads it back as a string. `stack_config.cli_config` and `stack_config.schema_problems` apply those rules.
"""

from pathlib import Path

import pytest
import yaml

import settings
import stack_config
from components.errors import SettingsError

ROOT = Path(__file__).resolve().parents[1]
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
STACK_FILES = sorted(ROOT.glob("Pulumi.*.yaml"))


def project_values(path: Path) -> dict[str, object]:
    config = yaml.safe_load(path.read_text())["config"]
    return {key.split(":", 1)[1]: value for key, value in config.items() if key.startswith(f"{PROJECT['name']}:")}


def test_the_repository_has_stack_files_to_check():
    assert {path.name for path in STACK_FILES} >= {"Pulumi.dev.yaml", "Pulumi.prod.yaml"}


def test_every_declared_default_is_of_its_declared_type():
    assert stack_config.schema_problems(PROJECT["config"]) == []


def test_every_key_has_a_default_so_no_stack_file_must_set_it():
    # A stack file may leave any key out: `pulumi stack init` + `pulumi up` needs no config of ours.
    assert [key for key, spec in PROJECT["config"].items() if "default" not in spec] == []
    assert set(stack_config.cli_config("new", {})) == set(PROJECT["config"])


@pytest.mark.parametrize("path", STACK_FILES, ids=lambda path: path.name)
def test_the_cli_accepts_every_stack_file(path: Path):
    stack = path.name.split(".")[1]
    handed = stack_config.cli_config(stack, project_values(path))
    assert set(handed) == set(PROJECT["config"]), "the CLI hands over every declared key"
    assert all(isinstance(value, str) for value in handed.values())
    assert settings.from_stack_file(stack).stack == stack


def test_defaults_are_handed_over_as_strings_and_empty_strings_stay_empty():
    handed = stack_config.cli_config("dev", {})
    assert (handed["replicas"], handed["containerInsights"], handed["maxReplicas"]) == ("2", "true", "0")
    assert (handed["namePrefix"], handed["domain"], handed["zone"]) == ("", "", "")


def test_a_key_added_without_a_default_is_refused_for_every_stack_file_that_lacks_it():
    schema = {**PROJECT["config"], "region2": {"type": "string", "description": "a new key without a default"}}
    for path in STACK_FILES:
        stack = path.name.split(".")[1]
        with pytest.raises(SettingsError) as caught:
            stack_config.cli_config(stack, project_values(path), schema)
        assert f"Stack '{stack}' is missing configuration value 'region2'" in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [
        ("replicas", "three", "integer"),
        ("replicas", "3.0", "integer"),
        ("replicas", " 3", "integer"),
        ("replicas", True, "integer"),
        ("containerInsights", "yes", "boolean"),
        ("containerInsights", 1, "boolean"),
        ("image", ["a", "b"], "string"),
    ],
)
def test_a_stack_value_of_the_wrong_type_is_refused(key, value, kind):
    with pytest.raises(SettingsError) as caught:
        stack_config.cli_config("dev", {key: value})
    assert f"Stack 'dev' with configuration key '{key}' must be of type '{kind}'" in str(caught.value)


@pytest.mark.parametrize(
    ("key", "value", "handed"),
    [("replicas", "+3", "+3"), ("replicas", 3, "3"), ("containerInsights", False, "false"), ("namePrefix", 7, "7")],
)
def test_what_the_cli_accepts_reaches_the_program_as_its_string(key, value, handed):
    assert stack_config.cli_config("dev", {key: value})[key] == handed


@pytest.mark.parametrize(
    ("spec", "kind", "words"),
    [
        ({"type": "integer", "default": "two"}, "integer", "a whole number"),
        ({"type": "boolean", "default": "yes"}, "boolean", "true or false"),
        ({"type": "string", "default": 5}, "string", "a string"),
    ],
)
def test_a_default_of_the_wrong_type_is_refused(spec, kind, words):
    problems = stack_config.schema_problems({**PROJECT["config"], "odd": {**spec, "description": "odd"}})
    assert problems == [
        f"odd: default {spec['default']!r} is not {words}; the Pulumi CLI refuses the project "
        f"(The default value specified for configuration key 'odd' is not of the expected type '{kind}')"
    ]


def test_stack_files_are_read_as_the_cli_reads_yaml_where_only_true_and_false_are_booleans(tmp_path: Path):
    (tmp_path / "Pulumi.odd.yaml").write_text("config:\n  aws:region: us-east-1\n  alb-replicas:flowLogs: on\n")
    with pytest.raises(SettingsError, match="flowLogs: 'on' is not true or false"):
        settings.from_stack_file("odd", project_dir=tmp_path)


def stack_file_with(folder: Path, line: str) -> dict[str, object]:
    """The project's values of a stack file `Pulumi.t.yaml` in `folder` that holds one `key: value` line."""
    (folder / "Pulumi.t.yaml").write_text(f"config:\n  alb-replicas:{line}\n")
    return stack_config.stack_file_values("t", project_dir=folder)


# A stack file's plain scalars as the CLI reads them: go-yaml v3 resolves them (underscores dropped, Go's
# base-0 integers, its float pattern, no YAML 1.1 sexagesimal), and the CLI's config object writes a
# number back as JSON, so an integral float is stored as a whole number.
@pytest.mark.parametrize(
    ("line", "handed"),
    [
        ("replicas: 3.0", "3"),
        ("replicas: 1e3", "1000"),
        ("replicas: 0o10", "8"),
        ("replicas: 010", "8"),
        ("replicas: 0x10", "16"),
        ("replicas: 1_0", "10"),
        ("replicas: +3", "3"),
        ("namePrefix: 1.0", "1"),
        ("namePrefix: 1.5", "1.5"),
        ("namePrefix: 1:30", "1:30"),
    ],
)
def test_a_stack_file_number_reaches_the_program_as_the_cli_stores_it(tmp_path: Path, line: str, handed: str):
    key = line.split(":", 1)[0]
    assert stack_config.cli_config("t", stack_file_with(tmp_path, line))[key] == handed


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("replicas: 1:30", "must be of type 'integer'"),  # YAML 1.1 read it as 90; go-yaml keeps the text
        ("replicas: 3.5", "must be of type 'integer'"),
        ('replicas: "3.0"', "must be of type 'integer'"),
        ("replicas: .nan", "JSON has no NaN or infinity"),
        ("namePrefix: .inf", "JSON has no NaN or infinity"),
    ],
)
def test_a_stack_file_number_the_cli_refuses_is_refused(tmp_path: Path, line: str, words: str):
    given = stack_file_with(tmp_path, line)
    with pytest.raises(SettingsError, match=words):
        stack_config.cli_config("t", given)
