"""The package has no import cycles, and every module imports on its own, in any order."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _modules() -> list[str]:
    names = []
    for path in sorted((REPO / "sweep_magic").rglob("*.py")):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def test_no_import_cycle_in_the_package() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "check_imports.py")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_module_imports_first_and_in_any_order() -> None:
    modules = _modules()
    for seed in range(3):
        order = modules[:]
        random.Random(seed).shuffle(order)
        code = "import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in order)
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=REPO
        )
        assert result.returncode == 0, f"order {order}: {result.stderr[-2000:]}"
    for module in modules:
        result = subprocess.run(
            [sys.executable, "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=False,
            cwd=REPO,
        )
        assert result.returncode == 0, f"{module}: {result.stderr[-2000:]}"
