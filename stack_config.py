"""The stack's config as the Pulumi CLI hands it to the program, for every path that reads it.

`pulumi up` reads `Pulumi.yaml` and `Pulumi.<stack>.yaml` (YAML 1.2) and, before any program runs,
applies the project's config schema: required keys, declared types, defaults (`cli_config`, `apply_cli_rules`). The
local tools have no CLI, so they read the stack file here (`stack_file_values`), bounded, and apply
the same rules, so every path sees the values `pulumi up` would hand over. Nothing here knows what a
value means: `settings` checks that.
"""

from __future__ import annotations

import functools
import json
import math
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from components.errors import SettingsError

PROJECT_DIR = Path(__file__).resolve().parent
PROJECT_NAME = "alb-replicas"

# What the Pulumi CLI accepts as a stack name (pulumi/pulumi, backend validateStackName).
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")

# The config types a Pulumi.yaml may declare.
CLI_TYPES: tuple[str, ...] = ("string", "integer", "boolean", "array")
# What each type accepts, in words for the error messages.
_TYPE_WORDS = {"string": "a string", "integer": "a whole number", "boolean": "true or false", "array": "a list"}
# An integer as Go's strconv.Atoi reads it, which the Pulumi CLI's type check uses: no spaces, no "3.0"
# (the string: an unquoted 3.0 is stored as "3"), and within 64 bits (checked apart).
_GO_INTEGER = re.compile(r"[+-]?[0-9]+")

# Bounds on reading a stack file, which holds a few dozen settings.
STACK_FILE_MAX_BYTES = 1 << 20
_YAML_MAX_DEPTH = 50
_YAML_MAX_NODES = 100_000


class _PulumiYamlLoader(yaml.SafeLoader):
    """YAML as the Pulumi CLI reads it (go-yaml v3): only true and false are booleans; `yes`, `on`
    and `no`, which PyYAML's YAML 1.1 turns into booleans, stay strings, and the CLI refuses them
    for a boolean key. Numbers as go-yaml resolves them (`_go_yaml_number`): no YAML 1.1
    sexagesimal (`1:30` stays text), `0o10` and `1e3` are numbers.

    Bounded (go-yaml, the CLI's reader, has limits of its own on aliasing and depth): at most
    _YAML_MAX_DEPTH levels, and at most _YAML_MAX_NODES values with every alias counted as all it
    repeats (a YAML bomb of a few lines would otherwise print gigabytes in its error message). An
    anchor holding itself is refused too, as go-yaml refuses it.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self._sizes: dict[int, int] = {}  # id of a composed node -> values it holds, aliases expanded

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node:
        event = self.peek_event()
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:  # still being composed
                raise _YamlTooLarge(f"anchor &{event.anchor} holds itself", mark)
            self._count(self._sizes[id(node)], mark)
            return node
        self._depth += 1
        if self._depth > _YAML_MAX_DEPTH:
            raise _YamlTooLarge(f"values nested deeper than {_YAML_MAX_DEPTH} levels", mark)
        before = self._nodes
        self._count(1, mark)
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._sizes[id(node)] = self._nodes - before
        return node

    def _count(self, nodes: int, mark: yaml.Mark) -> None:
        self._nodes += nodes
        if self._nodes > _YAML_MAX_NODES:
            raise _YamlTooLarge(f"over {_YAML_MAX_NODES:,} values, each alias counted as all it repeats", mark)

    def construct_go_yaml_number(self, node: yaml.ScalarNode) -> object:
        return _go_yaml_number(self.construct_scalar(node))


class _YamlTooLarge(yaml.MarkedYAMLError):
    def __init__(self, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)


_YAML_1_1_ONLY = ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_PulumiYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _YAML_1_1_ONLY]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PulumiYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
# A plain scalar that may be a number; _go_yaml_number decides, and leaves the rest text.
_GO_YAML_NUMBER_TAG = "tag:alb-replicas,2026:go-yaml-number"
_PulumiYamlLoader.add_implicit_resolver(
    _GO_YAML_NUMBER_TAG, re.compile(r"^[-+]?(?:[0-9]|\.[0-9iInN])"), list("-+.0123456789")
)
_PulumiYamlLoader.add_constructor(_GO_YAML_NUMBER_TAG, _PulumiYamlLoader.construct_go_yaml_number)

# go-yaml v3 (resolve.go): its float pattern, its spellings of infinity and NaN, and Go's base-0
# integers (0x, 0o, 0b, a leading 0 for octal) within int64 or uint64, after dropping underscores.
_GO_YAML_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_GO_YAML_SPECIAL = {
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
}
_GO_INTEGER_LITERAL = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")


def _go_yaml_number(text: str) -> object:
    """A plain scalar as go-yaml v3 resolves it: an int, a float, or the text itself."""
    if text in _GO_YAML_SPECIAL:
        return _GO_YAML_SPECIAL[text]
    plain = text.replace("_", "")
    literal = _GO_INTEGER_LITERAL.fullmatch(plain)
    if literal and len(plain) <= 70:  # 64 binary digits and a prefix: anything longer is out of range
        sign, body = literal.groups()
        prefixed = body[:2].lower() in ("0x", "0o", "0b")
        magnitude = int(body, 0) if prefixed else int(body, 8) if body.startswith("0") else int(body)
        value = -magnitude if sign == "-" else magnitude
        if -(2**63) <= value < 2**64:
            return value
    if _GO_YAML_FLOAT.fullmatch(plain):
        value = float(plain)
        if math.isfinite(value):  # Go's ParseFloat refuses what overflows: go-yaml keeps the text
            return value
    return text


@functools.cache
def config_schema() -> Mapping[str, Mapping[str, Any]]:
    """The `config:` block of Pulumi.yaml: key -> {type, default, description}. Read and checked once."""
    project = yaml.load((PROJECT_DIR / "Pulumi.yaml").read_text(), Loader=_PulumiYamlLoader)
    problems = schema_problems(project["config"])
    if problems:
        raise SettingsError("Pulumi.yaml: " + "; ".join(problems))
    return MappingProxyType(project["config"])


def schema_problems(schema: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Why the Pulumi CLI would refuse to load these config declarations; empty when it loads them.

    The CLI checks every default against its declared type, as YAML read it ("The default value
    specified for configuration key 'x' is not of the expected type 'integer'"): a default of 5 is
    no string. This program also needs every key to declare its type.
    """
    problems: list[str] = []
    for key, spec in schema.items():
        kind = spec.get("type")
        if kind not in CLI_TYPES:
            problems.append(f"{key}: type {kind!r} is not allowed; allowed: {', '.join(CLI_TYPES)}")
        elif "default" in spec and not _is_of_type(spec["default"], kind):
            problems.append(
                f"{key}: default {spec['default']!r} is not {_TYPE_WORDS[kind]}; the Pulumi CLI refuses the "
                f"project (The default value specified for configuration key '{key}' is not of the expected "
                f"type '{kind}')"
            )
    return problems


def cli_config(
    stack: str, given: Mapping[str, object], schema: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, str]:
    """The project's config as `pulumi up` hands it to the program, or the SettingsError it stops with.

    `given`: the project's keys a stack file sets, without the `<project>:` namespace, as YAML read
    them (None: not set). Before any program runs, the Pulumi CLI (pulumi/pulumi,
    sdk/go/common/workspace, its validation of stack config against the project's):
    - stops when a key Pulumi.yaml declares without a default is not set ("Stack 'dev' is missing
      configuration values 'domain', 'namePrefix' and 'zone'");
    - stops when a value is not of its declared type ("Stack 'dev' with configuration key
      'replicas' must be of type 'integer'"), integers read by Go's strconv.Atoi, booleans only
      true or false;
    - writes every declared default into the stack's config, so the program reads it back as a
      string like every other value ("" for an empty-string default).
    Keys Pulumi.yaml does not declare pass through; parse_settings names them.
    """
    handed, problems = apply_cli_rules(stack, given, config_schema() if schema is None else schema)
    if problems:
        raise SettingsError("invalid stack settings:\n  " + "\n  ".join(problems))
    return handed


def apply_cli_rules(
    stack: str, given: Mapping[str, object], schema: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, str], list[str]]:
    """`cli_config` without raising: the config handed over, and the problems the CLI would stop with."""
    handed: dict[str, str] = {}
    problems: list[str] = []
    for key, value in given.items():
        if value is None:
            continue
        try:  # The CLI stores numbers as JSON, which has no NaN or infinity.
            json.dumps(value, allow_nan=False)
        except ValueError:
            problems.append(
                f"{key}: {_shown(value)} cannot be stored by the Pulumi CLI (JSON has no NaN or infinity); "
                "pulumi up stops"
            )
            continue
        # Scalars reach the program as strings; a list or mapping as JSON, checked as itself.
        text = json.dumps(value) if isinstance(value, (list, dict)) else config_string(value)
        kind = schema.get(key, {}).get("type")
        if kind is not None and not _is_of_type(value if isinstance(value, (list, dict)) else text, kind):
            problems.append(
                f"{key}: {_shown(value)} is not {_TYPE_WORDS[kind]}; pulumi up stops with \"Stack '{stack}' with "
                f"configuration key '{key}' must be of type '{kind}'\""
            )
            continue
        handed[key] = text
    for key, spec in schema.items():
        if given.get(key) is not None:  # set: handed over above, or refused
            continue
        if "default" in spec:
            handed[key] = config_string(spec["default"])
        else:
            problems.append(
                f"{key}: not set, and Pulumi.yaml declares no default; pulumi up stops with \"Stack '{stack}' "
                f"is missing configuration value '{key}'\""
            )
    return handed, problems


def _shown(value: object, limit: int = 80) -> str:
    """A value for an error message: its repr, cut to `limit` characters."""
    shown = repr(value)
    return shown if len(shown) <= limit else f"{shown[: limit - 1]}… ({len(shown):,} characters)"


def config_string(value: object) -> str:
    """A scalar as the Pulumi CLI stores it in the stack's config: YAML's true is "true", a number
    as JSON writes it (its config object marshals numbers to JSON), so 3.0 is "3"."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:  # Go's JSON: no ".0"
        return str(int(value))
    return str(value)


def _is_of_type(value: object, kind: str) -> bool:
    """The Pulumi CLI's type check on one value as YAML read it."""
    if kind == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, str) and _GO_INTEGER.fullmatch(value) and len(value.lstrip("+-").lstrip("0")) <= 19:
            value = int(value)
        return isinstance(value, int) and -(2**63) <= value < 2**63
    if kind == "boolean":
        return isinstance(value, bool) or value in ("true", "false")
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, str)


def stack_file_values(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, object]:
    """The project's keys `Pulumi.<stack>.yaml` sets, without their namespace, as YAML read them."""
    config = _stack_file_config(stack, project_dir)
    namespace = f"{PROJECT_NAME}:"
    return {key[len(namespace) :]: value for key, value in config.items() if key.startswith(namespace)}


def stack_file_region(stack: str, project_dir: Path = PROJECT_DIR) -> str | None:
    """`aws:region` in `Pulumi.<stack>.yaml`; None when unset (the provider then takes AWS_REGION)."""
    region = _stack_file_config(stack, project_dir).get("aws:region")
    return str(region) if region is not None else None


def _stack_file_config(stack: str, project_dir: Path) -> Mapping[str, Any]:
    """The `config:` block of `Pulumi.<stack>.yaml`.

    A file that is not YAML, holds no `config:` mapping (an empty file included: it would deploy
    every default to whatever region the environment names) or has a key without a namespace is
    one line of SettingsError.
    """
    if not _STACK_NAME.match(stack):
        raise SettingsError(f"stack {stack!r} is not a stack name; allowed: 1 to 100 letters, digits, '-', '_' or '.'")
    path = project_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        if path.is_symlink() or path.exists():
            raise SettingsError(f"{path.name} is {_not_a_file(path)}, not a file; a stack's settings are a YAML file")
        files = (p for p in project_dir.glob("Pulumi.*.yaml") if p.is_file())
        stacks = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in files)
        raise SettingsError(f"stack {stack!r}: no file {path.name}; stacks here: {', '.join(stacks) or 'none'}")
    try:
        with path.open("rb") as file:
            data = file.read(STACK_FILE_MAX_BYTES + 1)
    except OSError as error:
        raise SettingsError(f"{path.name} cannot be read: {error.strerror}") from None
    if len(data) > STACK_FILE_MAX_BYTES:
        raise SettingsError(f"{path.name} is over {STACK_FILE_MAX_BYTES >> 20} MiB; a stack file holds a few settings")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise SettingsError(f"{path.name} is not UTF-8 text (byte {error.start + 1} is not); a stack file is") from None
    try:
        document = yaml.load(text, Loader=_PulumiYamlLoader)
    except _YamlTooLarge as error:
        raise SettingsError(f"{path.name} is refused: {_one_line(error)}") from None
    except yaml.YAMLError as error:
        raise SettingsError(f"{path.name} is not valid YAML: {_one_line(error)}") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict) or not config:
        found = f"config: {_kind(config)}" if isinstance(document, dict) else _kind(document)
        raise SettingsError(
            f"{path.name} holds {found}; allowed: a mapping with a non-empty config: block of key: value "
            f"lines (e.g. pulumi config set aws:region us-east-1 --stack {stack})"
        )
    unqualified = [str(key) for key in config if not isinstance(key, str) or ":" not in key]
    if unqualified:
        raise SettingsError(
            f"{path.name}: config key {unqualified[0]!r} has no namespace; "
            f"write {PROJECT_NAME}:{unqualified[0]} (or aws:... for the AWS provider)"
        )
    return config


def _not_a_file(path: Path) -> str:
    """What stands at `path` instead of a regular file."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return "a link that leads nowhere"
    return "a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode) else "a device or socket"


def _kind(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an empty mapping"
    return f"the {type(value).__name__} {value!r}"


def _one_line(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return " ".join(str(error).split())
