"""What every rule is made of: the two kinds of rule, the resource a stack rule sees, `UNKNOWN`, and
the readers of props the service modules share."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final


class Unknown(enum.Enum):
    """A value that exists but that a preview cannot see yet."""

    UNKNOWN = "unknown"

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN: Final = Unknown.UNKNOWN


@dataclass(frozen=True)
class PlannedResource:
    """One resource of a stack as a stack rule sees it."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    # URNs this resource depends on; known in a preview even where the ids they stand for are not.
    dependencies: frozenset[str] = frozenset()
    # Per input property, the URNs its value comes from (more precise than `dependencies` where known).
    property_dependencies: Mapping[str, frozenset[str]] = field(default_factory=dict)
    parent: str | None = None
    # The provider's id where known (Pulumi mocks make it "<name>_id"); the policy engine does not give it.
    id: str | None = None


# A check sees the type too: one rule may cover several types that declare the same thing differently.
ResourceCheck = Callable[[str, Mapping[str, Any]], list[str]]
StackCheck = Callable[[Sequence[PlannedResource]], list[str]]


@dataclass(frozen=True)
class ResourceRule:
    """A rule on the properties of one resource; applies only to `resource_types`."""

    id: str
    control: str
    description: str
    applies_to_dev: bool
    resource_types: frozenset[str]
    check: ResourceCheck

    def __call__(self, resource_type: str, props: Mapping[str, Any]) -> list[str]:
        if resource_type not in self.resource_types:
            return []
        return [f"{self.control}: {problem}" for problem in self.check(resource_type, props)]


@dataclass(frozen=True)
class StackRule:
    """A rule on the relations between the resources of a stack."""

    id: str
    control: str
    description: str
    applies_to_dev: bool
    check: StackCheck

    def __call__(self, resources: Sequence[PlannedResource]) -> list[str]:
        return [f"{self.control}: {problem}" for problem in self.check(resources)]


Rule = ResourceRule | StackRule


def value_at(props: Any, path: str) -> Any:
    """The value at a dotted path; `UNKNOWN` if any step is unknown, None if any step is absent."""
    value = props
    for key in path.split("."):
        if value is UNKNOWN:
            return UNKNOWN
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def as_list(value: Any) -> list[Any] | Unknown:
    """A list prop as a list: None is empty, anything but a list is unknown."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return UNKNOWN


def show(value: Any) -> str:
    if value is None:
        return "absent"
    if isinstance(value, float) and value.is_integer():  # the engine hands numbers over as floats
        return str(int(value))
    return repr(value)


def value_check(
    path: str, ok: Callable[[Any], bool], fix: str, when: Callable[[Mapping], bool] | None = None
) -> ResourceCheck:
    """A check that the value at `path` is `ok`; absent values are `None` (fix should name the default)."""

    def check(resource_type: str, props: Mapping[str, Any]) -> list[str]:
        if when is not None and not when(props):
            return []
        value = value_at(props, path)
        if value is UNKNOWN or ok(value):
            return []
        return [f"{path} is {show(value)}; set {fix}"]

    return check


def identifiers(resource: PlannedResource, *keys: str) -> frozenset[str]:
    """The strings another resource may use to name this one: its id, and its name props where known."""
    values = (resource.id, *(value_at(resource.props, key) for key in keys))
    return frozenset(v for v in values if isinstance(v, str) and v)


def refers_to(child: PlannedResource, prop: str, identifiers: frozenset[str], urns: frozenset[str]) -> bool:
    """Whether `child.props[prop]` names the target: by value (ids known) or by dependency (preview)."""
    value = value_at(child.props, prop)
    if isinstance(value, str) and value in identifiers:
        return True
    dependencies = child.property_dependencies.get(prop, child.dependencies)
    return bool(dependencies & urns)


def label(resource: PlannedResource) -> str:
    return f"{resource.name!r} ({resource.urn})"
