"""Rust kernels written in a notebook cell: ``%%sweep kernel NAME``.

The cell body is the kernel's Rust items (``params``, ``metrics``, ``run`` and optionally a
``DESCRIPTION`` constant). They become ``src/lib.rs`` of a generated crate, between a fixed
prelude (``use sweep_kernel_sdk::prelude::*;``) and the ``export_kernel!`` call, in a cache
folder keyed by the SHA-256 of (name, body, SDK source, rustc version). The crate is built in
the target folder all kernels share and its library kept beside it, so running an unchanged
cell again only loads that library, without cargo. Compiler messages point at cell lines.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from .experiments import Experiment
from .rust_kernels import (
    KernelBuildError,
    build_kernel,
    cache_dir,
    check_name,
    load_library,
    render,
    rustc_version,
    sdk_dir,
    sdk_hash,
)

__all__ = ["CELLS_ENV", "CellKernel", "cell_diagnostics", "compile_cell", "generated_source"]

CELLS_ENV = "SWEEP_KERNEL_CELLS"
#: Changes whenever the generated crate changes shape, so old cache entries are not reused.
_FORMAT = 1
_PRELUDE = (
    "// Generated from a %%sweep kernel cell: cell line N is line N + 2 of this file.\n"
    "use sweep_kernel_sdk::prelude::*;\n"
)
_PRELUDE_LINES = _PRELUDE.count("\n")
_DESCRIPTION = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?const\s+DESCRIPTION\s*:", re.MULTILINE)
_LOCATION = re.compile(r"src/lib\.rs:(\d+):(\d+)")
_GUTTER = re.compile(r"^( *)(\d+)( \|.*)$")
# Cargo's closing lines name the generated package, which means nothing to the cell's author.
_CARGO_SUMMARY = re.compile(r"^(?:warning|error): .*`sweep_cell_\w+` \(lib\)")


@dataclass(frozen=True)
class CellKernel:
    """A kernel compiled (or found in the cache) from a cell."""

    experiment: Experiment
    sha256: str
    #: Build time; None when the cached library was loaded.
    seconds: float | None
    crate: Path
    #: The compiler's warnings, with cell line numbers.
    warnings: str = ""

    def summary(self) -> str:
        """One line: name, short sha256, build time or ``cached``."""
        how = "cached" if self.seconds is None else f"built in {self.seconds:.1f} s"
        return f"kernel {self.experiment.name}: sha256 {self.sha256[:12]}, {how}"


def cells_dir() -> Path:
    """Where generated crates live (``SWEEP_KERNEL_CELLS``, else the user cache)."""
    return Path(os.environ.get(CELLS_ENV) or cache_dir() / "cells").expanduser().resolve()


def generated_source(name: str, body: str) -> str:
    """``src/lib.rs`` of the crate generated for a cell."""
    description = "DESCRIPTION" if _DESCRIPTION.search(body) else '""'
    export = (
        f'sweep_kernel_sdk::export_kernel!(name: "{name}", description: {description}, '
        "params: params, metrics: metrics, run: run);\n"
    )
    return _PRELUDE + body.rstrip("\n") + "\n" + export


def cell_diagnostics(output: str, body_lines: int) -> str:
    """rustc's messages about the generated ``src/lib.rs`` with locations as cell lines."""

    def cell_line(line: int) -> int | None:
        n = line - _PRELUDE_LINES
        return n if 1 <= n <= body_lines else None

    def location(m: re.Match[str]) -> str:
        n = cell_line(int(m.group(1)))
        if n is None:
            return "the generated export_kernel! call (are params, metrics and run defined?)"
        return f"cell line {n}:{m.group(2)}"

    lines = []
    for line in output.splitlines():
        if _CARGO_SUMMARY.match(line):
            continue
        gutter = _GUTTER.match(line)
        if gutter and (n := cell_line(int(gutter.group(2)))) is not None:
            width = len(gutter.group(1)) + len(gutter.group(2))
            line = str(n).rjust(width) + gutter.group(3)
        lines.append(_LOCATION.sub(location, line))
    return "\n".join(lines)


def compile_cell(name: str, body: str) -> CellKernel:
    """Builds (or takes from the cache) the kernel of a ``%%sweep kernel NAME`` cell, loads
    it (replacing an earlier build of ``name``) and returns it."""
    check_name(name)
    if not body.strip():
        raise KernelBuildError(
            f"%%sweep kernel {name}: the cell is empty; write params(), metrics() and run()"
        )
    sdk = sdk_dir()
    # The Cargo.toml template (profile settings) is part of the key too, unrendered.
    parts = [_FORMAT, name, body, sdk_hash(sdk), rustc_version(), str(sdk), render("Cargo.toml")]
    key = hashlib.sha256(json.dumps(parts).encode()).hexdigest()
    crate = cells_dir() / f"{name}-{key[:20]}"
    library = crate / "kernel.so"
    if library.is_file():
        experiment = load_library(library, origin=f"cell:{name}")
        return CellKernel(experiment, experiment.sha256 or "", None, crate)
    (crate / "src").mkdir(parents=True, exist_ok=True)
    # Each cell version is its own package, so versions never share an output file in the
    # common target folder.
    cargo_toml = render(
        "Cargo.toml", name=f"sweep_cell_{name}_{key[:12]}", sdk_path=json.dumps(str(sdk))
    )
    (crate / "Cargo.toml").write_text(cargo_toml, "utf-8")
    (crate / "src" / "lib.rs").write_text(generated_source(name, body), "utf-8")
    body_lines = body.rstrip("\n").count("\n") + 1
    try:
        build = build_kernel(crate)
    except KernelBuildError as exc:
        if not exc.output:
            raise
        shown = cell_diagnostics(exc.output.rstrip(), body_lines)
        raise KernelBuildError(
            f"%%sweep kernel {name} does not compile:\n{shown}", output=exc.output
        ) from None
    tmp = library.with_name(f"kernel.{os.getpid()}.tmp")
    shutil.copyfile(build.host.path, tmp)
    tmp.replace(library)
    experiment = load_library(library, origin=f"cell:{name}", sha256=build.host.sha256)
    warnings = cell_diagnostics(build.output.rstrip(), body_lines)
    return CellKernel(experiment, build.host.sha256, build.seconds, crate, warnings)
