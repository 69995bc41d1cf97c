"""A Lambda function's package, built from the repository: the modules its handler imports, and no other.

Pulumi-free, so the tests and the benchmark list and time the same files the program ships. The closure
follows every `import` of the handler's package, at a module's top or inside a function (a lazy import
is still run in Lambda), and takes each module's file and its packages' `__init__.py`. Anything else it
imports must be in Lambda's Python runtime: the standard library, and boto3 with botocore (AWS Lambda
developer guide, "Building Lambda functions with Python": the runtime includes the AWS SDK for Python).
A third-party import beyond those fails the build with its name: matplotlib, duckdb or requests would
not be there, and the handler would fail at its first call.
"""

from __future__ import annotations

import ast
import gc
import sys
from pathlib import Path

RUNTIME_PACKAGES = frozenset({"boto3", "botocore"})
"""What Lambda's Python runtime provides beyond the standard library."""


class PackageError(Exception):
    """The handler imports what its package cannot hold."""


def handler_files(handler: str, root: Path) -> list[str]:
    """The files (relative to `root`, sorted) of the package for `handler` ("verify.hook.handler")."""
    module = handler.rsplit(".", 1)[0]
    package = module.split(".")[0]
    files: set[str] = set()
    pending = [module]
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = _module_path(name, root)
        if path is None:
            raise PackageError(f"{handler}: {name} is imported but is no module of {package}/")
        files.add(str(path.relative_to(root)))
        parts = name.split(".")
        for depth in range(1, len(parts)):
            pending.append(".".join(parts[:depth]))  # its packages' __init__.py run first
        for imported, from_import in _imports(path, name):
            top = imported.split(".")[0]
            if top == package:
                pending.append(_existing(imported, root) if from_import else imported)
            elif top not in sys.stdlib_module_names and top not in RUNTIME_PACKAGES and top != "__future__":
                raise PackageError(
                    f"{name} imports {top}, which Lambda's Python runtime lacks (it has the standard library,"
                    f" {' and '.join(sorted(RUNTIME_PACKAGES))}): keep it off the handler's path"
                )
    return sorted(files)


def _module_path(name: str, root: Path) -> Path | None:
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _existing(imported: str, root: Path) -> str:
    """`from a.b import c` names a.b.c when c is a module, else a.b (c is a name in it)."""
    return imported if _module_path(imported, root) is not None else imported.rsplit(".", 1)[0]


def _parse(path: Path) -> ast.Module:
    """The module's syntax tree, with the garbage collector paused while CPython 3.11 builds it: its AST constructor
    keeps one recursion count per interpreter, and a collection in the middle that finalizes a parse of its own
    (asyncio logging a future's exception nobody retrieved: the traceback's ^^^ marks parse the source line) breaks
    it, "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905; the program's Pulumi
    runtime leaves such futures when a resource fails)."""
    source = path.read_text()
    collecting = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source, str(path))
    finally:
        if collecting:
            gc.enable()


def _imports(path: Path, name: str) -> set[tuple[str, bool]]:
    """Every module `path` imports, and whether by `from`: `import a.b` is (a.b, False), a module;
    `from a.b import c` is (a.b.c, True), a module or a name in a.b."""
    found: set[tuple[str, bool]] = set()
    for node in ast.walk(_parse(path)):
        if isinstance(node, ast.Import):
            found |= {(alias.name, False) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise PackageError(f"{name}: a relative import; the project imports absolutely")
            if node.module:
                found |= {(f"{node.module}.{alias.name}", True) for alias in node.names}
    return found
