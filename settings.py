"""The stack settings: read once, validated once, handed to the components as typed values.

The keys, their types, defaults and meanings are declared once, in the `config:` block of
`Pulumi.yaml`. This module takes the stack's values from Pulumi (`from_pulumi`) or from a
`Pulumi.<stack>.yaml` file (`from_stack_file`, for the local rehearsal, which has no Pulumi CLI),
applies the rules the Pulumi CLI applies before any program runs (`cli_config`), so every path
sees the values `pulumi up` would hand over, and checks every value against what AWS and this
program accept. Every problem is reported at once, in one `SettingsError`, before any resource exists.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import ipaddress
import json
import math
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from components.aws_tables import (
    ALB_FREE_ADDRESSES,
    ALGORITHMS,
    CPU_ARCHITECTURES,
    LOG_RETENTION_DAYS,
    NAME_MAX,
    SUBNET_RESERVED_ADDRESSES,
    Algorithm,
    CpuArchitecture,
    fargate_size_problem,
    name_problem,
)
from components.errors import SettingsError
from components.options import (
    DEPLOYMENT_MAXIMUM_PERCENT,
    NAT_GATEWAYS,
    Capacity,
    HealthCheck,
    NatGateways,
    subnet_prefix_length,
)
from replica.nginx import HEALTH_PATH_RULE, health_path_fits

PROJECT_DIR = Path(__file__).resolve().parent
PROJECT_NAME = "alb-replicas"

# `capacity`: on-demand, spot, or mixed:N (N tasks on demand, the rest on Spot).
_MIXED_CAPACITY = re.compile(r"^mixed:([0-9]{1,3})$")

# Inclusive ranges of the integer keys: the one table of them (Pulumi.yaml's and the README's
# descriptions state the same; a test holds them).
_MAX_REPLICAS = 100
RANGES: dict[str, tuple[int, int]] = {
    "replicas": (1, _MAX_REPLICAS),
    "azCount": (2, 6),
    "containerPort": (1024, 65535),
    "healthCheckIntervalSeconds": (5, 300),
    "healthCheckTimeoutSeconds": (2, 120),
    "healthyThreshold": (2, 10),
    "unhealthyThreshold": (2, 10),
    "deregistrationDelaySeconds": (0, 3600),
    "healthCheckGracePeriodSeconds": (0, 3600),
    "requestsPerTarget": (1, 1_000_000),
    "cpuTargetPercent": (10, 90),
    "accessLogRetentionDays": (1, 3650),
}

_DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_CONTAINER_USER = re.compile(r"^[0-9]+(?::[0-9]+)?$")
# What the Pulumi CLI accepts as a stack name (pulumi/pulumi, backend validateStackName).
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


@dataclasses.dataclass(frozen=True)
class StackSettings:
    """Every setting of one stack, typed and checked. Field meanings: `Pulumi.yaml`.

    After `project` and `stack`, one field per key of Pulumi.yaml, named as the key in snake_case
    (`stack_key` gives the key; a test holds the two sets equal).
    """

    project: str
    stack: str
    name_prefix: str
    replicas: int
    max_replicas: int
    algorithm: Algorithm
    az_count: int
    nat_gateways: NatGateways
    vpc_cidr: str
    image: str
    container_port: int
    container_user: str
    health_check_path: str
    cpu: int
    memory: int
    health_check_interval_seconds: int
    health_check_timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int
    deregistration_delay_seconds: int
    health_check_grace_period_seconds: int
    log_retention_days: int
    container_insights: bool
    domain: str | None
    zone: str | None
    requests_per_target: int
    cpu_target_percent: int
    access_logs: bool
    access_log_retention_days: int
    deletion_protection: bool
    flow_logs: bool
    cross_zone: bool
    capacity: Capacity
    cpu_architecture: CpuArchitecture

    @property
    def replicas_in_private_subnets(self) -> bool:
        """Private subnets need a NAT gateway to pull images; without one, replicas go public."""
        return self.nat_gateways != "none"

    @property
    def health_check(self) -> HealthCheck:
        """How the load balancer (or the rehearsal's HAProxy) probes each replica."""
        return HealthCheck(
            path=self.health_check_path,
            interval_seconds=self.health_check_interval_seconds,
            timeout_seconds=self.health_check_timeout_seconds,
            healthy_threshold=self.healthy_threshold,
            unhealthy_threshold=self.unhealthy_threshold,
        )

    @property
    def autoscaling(self) -> bool:
        return self.max_replicas > self.replicas

    @property
    def https(self) -> bool:
        return self.domain is not None

    @property
    def serves_nginx_contract(self) -> bool:
        """An nginx image is given the replica config at start; any other image brings its own."""
        return image_repository(self.image).rsplit("/", 1)[-1] == "nginx"


# The config types a Pulumi.yaml may declare.
CLI_TYPES: tuple[str, ...] = ("string", "integer", "boolean", "array")
# What each type accepts, in words for the error messages.
_TYPE_WORDS = {"string": "a string", "integer": "a whole number", "boolean": "true or false", "array": "a list"}
# An integer as Go's strconv.Atoi reads it, which the Pulumi CLI's type check uses: no spaces, no "3.0",
# and within 64 bits (checked apart).
_GO_INTEGER = re.compile(r"[+-]?[0-9]+")
# Bounds on reading a stack file, which holds a few dozen settings.
STACK_FILE_MAX_BYTES = 1 << 20
_YAML_MAX_DEPTH = 50
_YAML_MAX_NODES = 100_000


class _PulumiYamlLoader(yaml.SafeLoader):
    """YAML as the Pulumi CLI reads it (YAML 1.2): only true and false are booleans; `yes`, `on`
    and `no`, which PyYAML's YAML 1.1 turns into booleans, stay strings, and the CLI refuses them
    for a boolean key.

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

    def construct_yaml_int(self, node: yaml.ScalarNode) -> object:
        """An integer too long for Python's int() stays the string it is, as go-yaml leaves one
        beyond 64 bits; the CLI's type check then refuses it for an integer key."""
        try:
            return super().construct_yaml_int(node)
        except ValueError:
            return self.construct_scalar(node)


class _YamlTooLarge(yaml.MarkedYAMLError):
    def __init__(self, problem: str, mark: yaml.Mark) -> None:
        super().__init__(problem=problem, problem_mark=mark)


_PulumiYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_PulumiYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_PulumiYamlLoader.add_constructor("tag:yaml.org,2002:int", _PulumiYamlLoader.construct_yaml_int)


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
    handed, problems = _cli_config(stack, given, config_schema() if schema is None else schema)
    if problems:
        raise SettingsError("invalid stack settings:\n  " + "\n  ".join(problems))
    return handed


def _cli_config(
    stack: str, given: Mapping[str, object], schema: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, str], list[str]]:
    handed: dict[str, str] = {}
    problems: list[str] = []
    for key, value in given.items():
        if value is None:
            continue
        # Scalars reach the program as strings; a list or mapping as JSON, checked as itself.
        text = json.dumps(value) if isinstance(value, (list, dict)) else _config_string(value)
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
            handed[key] = _config_string(spec["default"])
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


def _config_string(value: object) -> str:
    """A scalar as the Pulumi CLI stores it in the stack's config: YAML's true is "true"."""
    return str(value).lower() if isinstance(value, bool) else str(value)


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


def from_pulumi() -> StackSettings:
    """The settings of the stack `pulumi up` is running: every key, as the CLI hands it over."""
    import pulumi

    config = pulumi.Config()
    raw = {key: config.get(key) for key in config_schema()}
    return parse_settings(raw, project=pulumi.get_project(), stack=pulumi.get_stack())


def from_stack_file(stack: str, project_dir: Path = PROJECT_DIR) -> StackSettings:
    """The settings in `Pulumi.<stack>.yaml`, for tools that run without the Pulumi CLI."""
    return parse_settings(stack_file_values(stack, project_dir), project=PROJECT_NAME, stack=stack)


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


def parse_settings(raw: Mapping[str, object], *, project: str, stack: str) -> StackSettings:
    """Turn the stack's values (strings from Pulumi, or YAML scalars) into checked settings.

    First the Pulumi CLI's rules (`cli_config`: types, defaults), so a value here is exactly what
    `pulumi up` hands the program. Raises one SettingsError that lists every bad key, its value
    and what is allowed.
    """
    schema = config_schema()
    handed, problems = _cli_config(stack, raw, schema)
    for key in sorted(set(raw) - set(schema)):
        problems.append(f"{key}: unknown setting; known settings: {', '.join(sorted(schema))}")

    if any(key not in handed and "default" not in spec for key, spec in schema.items()):
        raise SettingsError("invalid stack settings:\n  " + "\n  ".join(problems))
    # A value the CLI would refuse is replaced by its default here, so the checks below name every other problem.
    values: dict[str, Any] = {
        key: _convert(handed.get(key, _config_string(spec["default"])), spec["type"]) for key, spec in schema.items()
    }

    problems += _check(values)
    if problems:
        raise SettingsError("invalid stack settings:\n  " + "\n  ".join(problems))

    # One field per key, named as the key in snake_case; three read their key with a meaning of its own.
    fields = {field: values[stack_key(field)] for field in settings_fields()}
    return StackSettings(
        project=project,
        stack=stack,
        **{
            **fields,
            "name_prefix": values["namePrefix"] or default_name_prefix(project, stack),
            "max_replicas": values["maxReplicas"] or values["replicas"],
            "capacity": _capacity(values["capacity"]),
        },
    )


def settings_fields() -> list[str]:
    """The StackSettings fields that stack keys set: all but `project` and `stack`."""
    return [field.name for field in dataclasses.fields(StackSettings) if field.name not in ("project", "stack")]


def stack_key(field_name: str) -> str:
    """The stack key of a StackSettings field: `az_count` is set as `azCount`."""
    first, *rest = field_name.split("_")
    return first + "".join(word.capitalize() for word in rest)


# Component arguments set by a stack key of another name; the others are named as the settings field.
_KEY_OF_ARGUMENT = {"name": "namePrefix", "capacity.on_demand_base": "capacity"}


def in_stack_keys(error: SettingsError) -> SettingsError:
    """A component's error (worded in its own argument names) reworded with the stack key a user sets."""
    if error.argument is None:
        return error
    return SettingsError(error.problem, argument=_KEY_OF_ARGUMENT.get(error.argument) or stack_key(error.argument))


def default_name_prefix(project: str, stack: str) -> str:
    """`<project>-<stack>` made fit for AWS names; over 20 characters, cut and given a hash.

    A cut name keeps the start of the project and as much of the stack as fits, and the hash of
    the whole keeps two long stack names that share a beginning from colliding.
    """

    def clean(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")

    stem = clean(f"{project}-{stack}") or "stack"
    if len(stem) <= NAME_MAX:
        return stem
    digest = hashlib.sha256(f"{project}/{stack}".encode()).hexdigest()[:6]
    room = NAME_MAX - len(digest) - 1  # for "<cut>-<digest>"
    project_part = clean(project)[:5].strip("-")
    stack_part = clean(stack)[: room - len(project_part) - 1].strip("-")
    cut = "-".join(part for part in (project_part, stack_part) if part) or "stack"
    return f"{cut}-{digest}"


def image_repository(image: str) -> str:
    """`registry/path/name` of an image reference, without its tag or digest."""
    name = image.split("@", 1)[0]
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > last_slash else name


def _convert(text: str, kind: str) -> object:
    """A value the CLI's type check passed, as the type it declares; an empty string means unset."""
    if kind == "integer":
        return int(text)
    if kind == "boolean":
        return text == "true"
    return text.strip() or None


def _check(values: dict[str, Any]) -> list[str]:
    problems: list[str] = []

    for key, (low, high) in RANGES.items():
        value = values[key]
        if value is not None and not low <= value <= high:
            problems.append(f"{key}: {value} is out of range; allowed: {low} to {high}")

    def problems_of(keys: tuple[str, ...]) -> bool:
        return any(problem.startswith(f"{key}:") for problem in problems for key in keys)

    def one_of(key: str, allowed: tuple[object, ...]) -> None:
        if values[key] not in allowed:
            shown = ", ".join(str(a) for a in allowed)
            problems.append(f"{key}: {values[key]!r} is not allowed; allowed: {shown}")

    one_of("algorithm", ALGORITHMS)
    one_of("natGateways", NAT_GATEWAYS)
    one_of("logRetentionDays", LOG_RETENTION_DAYS)
    one_of("cpuArchitecture", CPU_ARCHITECTURES)
    problems += _check_capacity(values["capacity"], values["replicas"])

    fargate_problem = fargate_size_problem(values["cpu"], values["memory"])
    if fargate_problem:
        problems.append(fargate_problem)

    interval, timeout = values["healthCheckIntervalSeconds"], values["healthCheckTimeoutSeconds"]
    if timeout >= interval:
        problems.append(f"healthCheckTimeoutSeconds: {timeout} must be below healthCheckIntervalSeconds ({interval})")

    # The target group takes up to 1024 characters; the replica's nginx config, not every character.
    path = values["healthCheckPath"] or ""
    if not health_path_fits(path) or len(path) > 1024:
        problems.append(f"healthCheckPath: {path!r} {HEALTH_PATH_RULE}, and have at most 1024 characters")

    max_replicas, replicas = values["maxReplicas"], values["replicas"]
    if max_replicas != 0 and not replicas <= max_replicas <= _MAX_REPLICAS:
        where = f"below replicas ({replicas})" if max_replicas < replicas else "out of range"
        problems.append(
            f"maxReplicas: {max_replicas} is {where}; allowed: 0 (same as replicas) or {replicas} to {_MAX_REPLICAS}"
        )

    vpc_problems = _check_vpc_cidr(values["vpcCidr"])
    problems += vpc_problems
    if not vpc_problems and not problems_of(("azCount", "replicas", "maxReplicas", "natGateways")):
        problems += _check_room_for_tasks(values)
    problems += _check_image(values["image"])
    problems += _check_domain(values["domain"], values["zone"])

    user = values["containerUser"]
    if not user or not _CONTAINER_USER.match(user) or user.split(":")[0] == "0":
        problems.append(f"containerUser: {user!r} must be a numeric non-root uid or uid:gid, e.g. 101:101")

    prefix = values["namePrefix"]
    problem = name_problem(prefix) if prefix is not None else None
    if problem:
        problems.append(f"namePrefix: {problem}")
    return problems


def _capacity(text: str) -> Capacity:
    """A checked `capacity` value as the service's Capacity."""
    mixed = _MIXED_CAPACITY.match(text)
    return Capacity(spot=text != "on-demand", on_demand_base=int(mixed.group(1)) if mixed else 0)


def _check_capacity(text: str | None, replicas: int) -> list[str]:
    if text in ("on-demand", "spot"):
        return []
    mixed = _MIXED_CAPACITY.match(text or "")
    if mixed and 1 <= int(mixed.group(1)) <= replicas:
        return []
    return [
        f"capacity: {text or ''!r} is not allowed; allowed: on-demand, spot, or mixed:N with N from 1 to "
        f"replicas ({replicas}): N tasks on demand, the rest on Spot"
    ]


def _check_vpc_cidr(cidr: str | None) -> list[str]:
    try:
        network = ipaddress.ip_network(cidr or "", strict=True)
    except ValueError:
        return [f"vpcCidr: {cidr!r} is not an IPv4 network such as 10.0.0.0/16 (host bits must be zero)"]
    if network.version != 4 or not 16 <= network.prefixlen <= 24:
        return [f"vpcCidr: {cidr!r} must be an IPv4 network with a prefix from /16 to /24"]
    return []


def _check_room_for_tasks(values: dict[str, Any]) -> list[str]:
    """A deploy runs up to DEPLOYMENT_MAXIMUM_PERCENT of the tasks, each with an address in its zone's
    replica subnet; without NAT those are the load balancer's subnets, which keep ALB_FREE_ADDRESSES
    free. ECS spreads tasks evenly over the zones, and cannot start one in a full subnet."""
    cidr, az_count = values["vpcCidr"], values["azCount"]
    most = values["maxReplicas"] or values["replicas"]
    prefix = subnet_prefix_length(ipaddress.ip_network(cidr).prefixlen, az_count)
    addresses = 2 ** (32 - prefix)
    shares_alb_subnet = values["natGateways"] == "none"
    room = addresses - SUBNET_RESERVED_ADDRESSES - (ALB_FREE_ADDRESSES if shares_alb_subnet else 0)
    needed = math.ceil(most * DEPLOYMENT_MAXIMUM_PERCENT / 100 / az_count)
    if needed <= room:
        return []
    kept = f"AWS's {SUBNET_RESERVED_ADDRESSES}" + (
        f" and the load balancer's {ALB_FREE_ADDRESSES}" if shares_alb_subnet else ""
    )
    return [
        f"vpcCidr: {cidr!r} leaves room for {room} tasks per zone in the replicas' /{prefix} subnets ({addresses} "
        f"addresses, less {kept}); a deploy at {DEPLOYMENT_MAXIMUM_PERCENT} % of {most} replicas needs {needed} "
        "per zone; allowed: a larger vpcCidr, fewer azCount or fewer (max)replicas"
    ]


def _check_image(image: str | None) -> list[str]:
    if not image or re.search(r"\s", image):
        return [f"image: {image!r} is not an image reference"]
    pinned_by_digest = "@sha256:" in image
    tag = image[len(image_repository(image)) + 1 :] if not pinned_by_digest else ""
    if not pinned_by_digest and tag in ("", "latest"):
        return [
            f"image: {image!r} pins nothing (a moved tag changes the replicas silently and the same "
            "tag never redeploys); use a version tag such as nginx:1.30.0-alpine or a @sha256: digest"
        ]
    return []


def _check_domain(domain: str | None, zone: str | None) -> list[str]:
    if domain is None and zone is None:
        return []
    if domain is None or zone is None:
        missing = "zone" if zone is None else "domain"
        return [f"{missing}: unset, but domain and zone go together (domain {domain!r}, zone {zone!r})"]
    problems = [
        f"{key}: {name!r} is not a DNS name (lowercase labels of letters, digits and hyphens, dot-separated)"
        for key, name in (("domain", domain), ("zone", zone))
        if not _is_dns_name(name)
    ]
    if not problems and domain != zone and not domain.endswith("." + zone):
        problems.append(f"domain: {domain!r} is outside zone {zone!r}; it must be {zone} or end in .{zone}")
    return problems


def _is_dns_name(name: str) -> bool:
    labels = name.split(".")
    return len(name) <= 253 and len(labels) >= 2 and all(_DNS_LABEL.match(label) for label in labels)
