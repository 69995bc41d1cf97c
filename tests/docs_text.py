"""The project's documentation as the tests read it: the README's front page and one file a topic in docs/."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def doc(topic: str) -> str:
    """The text of docs/<topic>.md."""
    return (DOCS / f"{topic}.md").read_text()


def section(text: str, heading: str) -> str:
    """The body under `## heading` up to the next `## ` heading."""
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
