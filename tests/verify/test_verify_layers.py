"""verify's folders are its layers, and imports run down them only: a source never imports a renderer or
the judgement, a renderer never imports a source, and the ground floor imports nothing above it."""

import ast
from pathlib import Path

VERIFY = Path(__file__).resolve().parents[2] / "verify"

# Room -> the rooms its modules may import (their own room included). The top (`cli`, `boundary`,
# `__main__`) may import every room; `boundary` is the process's edge and takes only the ground floor.
MAY_IMPORT = {
    "core": {"core"},
    "judging": {"core", "judging"},
    "rendering": {"core", "judging", "rendering"},
    "sources": {"core"},
    "sources.live": {"core", "sources.live"},
    "sources.logs": {"core", "sources.logs"},
    "sources.hook": {"core", "sources.hook"},
    "boundary": {"core"},
}
# `hook`, the deploy hook's Lambda handler, stands where `cli` does: it joins a source, the judgement and
# the JSON renderer.
TOP = {"__init__", "__main__", "cli", "hook"}


def room_of(module: str) -> str:
    """`verify.sources.live.client` -> `sources.live`; `verify.cli` -> `cli`."""
    parts = module.split(".")[1:]
    if parts[-1] == "__init__":  # a package's own module lives in the room it is
        return ".".join(parts[:-1]) or "__init__"
    return ".".join(parts[:-1]) if len(parts) > 1 else parts[0]


def module_name(path: Path) -> str:
    return ".".join(("verify", *path.relative_to(VERIFY).with_suffix("").parts))


def verify_imports(path: Path) -> set[str]:
    """Every verify module a file imports, at its top or inside a function (lazy imports count too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names if alias.name.split(".")[0] == "verify"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "verify":
            assert node.level == 0, f"{path}: relative import"
            names.add(node.module)
    return names


def test_every_module_of_verify_lives_in_a_room_or_is_the_top():
    modules = [module_name(path) for path in VERIFY.rglob("*.py")]
    homeless = [name for name in modules if room_of(name) not in MAY_IMPORT and room_of(name) not in TOP]
    assert homeless == []


def test_imports_run_down_the_layers_only():
    wrong = []
    for path in sorted(VERIFY.rglob("*.py")):
        room = room_of(module_name(path))
        if room in TOP:
            continue
        for imported in verify_imports(path):
            if room_of(imported) not in MAY_IMPORT[room]:
                wrong.append(f"{module_name(path)} ({room}) imports {imported} ({room_of(imported)})")
    assert wrong == []


def test_the_rule_itself_refuses_a_renderer_in_a_source():
    """The check above is not vacuous: the room of a renderer is not one a source may import."""
    assert room_of("verify.rendering.terminal") not in MAY_IMPORT["sources.logs"]
    assert room_of("verify.sources.live.client") not in MAY_IMPORT["rendering"]
    assert room_of("verify.judging.judge") not in MAY_IMPORT["sources.live"]
    assert room_of("verify.sources.live.client") == "sources.live"
    assert room_of("verify.sources.stack") == "sources"
