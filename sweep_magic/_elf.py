"""What a built kernel library needs of the C library (for the Lambda build's check); the
loader's own checks of a library (headers, segments, machine) are in the engine."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

__all__ = ["newest_glibc"]


def newest_glibc(path: Path) -> tuple[int, ...] | None:
    """The newest ``GLIBC_x.y`` symbol version the library needs (``objdump -T``; without
    objdump, the version strings in the file)."""
    objdump = shutil.which("objdump")
    if objdump:
        text = subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [objdump, "-T", str(path)], capture_output=True, text=True, check=False
        ).stdout
    else:
        text = path.read_bytes().decode("latin-1")
    found = {tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", text)}
    return max(found) if found else None
