"""Imports flow one way: settings, the estimate and the rehearsal load no pulumi; components read no
settings; verify and the replica config import nothing of the project; every package of
requirements.txt is imported somewhere."""

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT_PACKAGES = {"components", "estimate", "policy", "rehearsal", "replica", "settings", "stack_config", "verify"}


def top_level_imports(path: Path) -> set[str]:
    """The top-level modules a file imports (absolute imports only)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def project_imports(folder: str) -> dict[str, set[str]]:
    """File -> the project's top-level modules it imports."""
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        found[str(path.relative_to(ROOT))] = top_level_imports(path) & PROJECT_PACKAGES
    return found


def test_settings_the_estimate_and_the_rehearsal_read_their_tables_without_loading_pulumi():
    code = (
        "import sys, stack_config, settings, estimate.cli, rehearsal.cli, components.aws_tables, components.options; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pulumi', 'pulumi_aws', 'pulumi_awsx')))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "[]"


def test_components_import_neither_the_settings_nor_the_stack_files_reader():
    """Components get typed values and paths from the program; stack_config imports components' errors, so a
    component importing it would be an arrow back up."""
    readers = {"settings", "stack_config"}
    assert {path: names & readers for path, names in project_imports("components").items() if names & readers} == {}


def test_verify_and_the_replica_config_import_nothing_of_the_project_but_themselves():
    for folder in ("verify", "replica"):
        outside = {path: names - {folder} for path, names in project_imports(folder).items() if names - {folder}}
        assert outside == {}, folder


def test_every_package_of_requirements_txt_is_imported_by_the_project():
    """A dependency nothing imports only costs installs: use it where it is the natural client, or drop it."""
    imported = set()
    for path in ROOT.glob("*.py"):
        imported |= top_level_imports(path)
    for folder in PROJECT_PACKAGES:
        for path in (ROOT / folder).rglob("*.py"):
            imported |= top_level_imports(path)
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    required = [re.split(r"[<>=!~ ]", line, maxsplit=1)[0] for line in lines if line and not line.startswith("#")]
    assert required and [name for name in required if name.replace("-", "_") not in imported] == []
