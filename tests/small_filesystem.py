"""A file system that takes no file, for the tests of what verify and the rehearsal refuse before starting."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def in_small_filesystem(
    argv: list[str], folder: Path, *, full: bool = False, read_only: bool = False, timeout_s: float = 60
) -> subprocess.CompletedProcess:
    """`argv` run in a mount namespace of its own where `folder` is a tmpfs of 64 KiB: `full` (filled to the
    last byte) or `read_only`. Nothing outside the namespace sees the mount; it goes with the process."""
    options = "size=64k" + (",ro" if read_only else "")
    fill = f"dd if=/dev/zero of={folder}/fill bs=1k count=128 2>/dev/null;" if full else ""
    script = f'mount -t tmpfs -o {options} tmpfs "{folder}" && {fill} exec "$@"'
    mapping = [] if os.geteuid() == 0 else ["--map-root-user"]
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", *mapping, "sh", "-c", script, "sh", *argv],
        capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
