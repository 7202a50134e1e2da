"""Kernels written in Rust outside sweep_magic, as a user writes them: a scaffolded crate built
and run from the shell, and `%%sweep kernel` cells in a real IPython shell.

Every test that runs cargo is `slow`. All of them build into one cargo target folder per test
session (`kernel_env`), so the kernel SDK compiles once."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import subprocess
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from test_magics import cell  # the `ip` fixture (a real IPython shell) is in conftest

import sweep_magic as sm
from sweep_magic import kernel_cells, rust_kernels

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = (REPO / "sweep_magic" / "kernel_template" / "lib.rs").read_text()
# The scaffold's Ornstein-Uhlenbeck model as a cell body: its items without the `use` line and
# the export call, which the cell magic writes itself.
OU_BODY = TEMPLATE.split("use sweep_kernel_sdk::prelude::*;\n", 1)[1].split(
    "sweep_kernel_sdk::export_kernel!"
)[0]


@pytest.fixture(scope="module", autouse=True)
def kernel_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One cargo target folder, cell cache and library cache for the whole test session."""
    base = tmp_path_factory.getbasetemp() / "rust-kernels"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SWEEP_KERNEL_TARGET", str(base / "target"))
        mp.setenv("SWEEP_KERNEL_CELLS", str(base / "cells"))
        mp.setenv("SWEEP_KERNEL_CACHE", str(base / "libraries"))
        mp.delenv("SWEEP_KERNELS", raising=False)
        mp.delenv("SWEEP_KERNEL_SDK", raising=False)
        yield base


def run_cli(
    cmd: list[str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


def kernel_cell(ip: InteractiveShell, name: str, body: str) -> tuple[Any, str]:
    return cell(ip, f"%%sweep kernel {name}\n{body}")


# -- no compiler needed ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["OU", "2fast", "ou-demo", "fn", "x" * 65, ""])
def test_kernel_names_must_be_snake_case(name: str, tmp_path: Path) -> None:
    with pytest.raises(sm.SpecError, match="is not snake_case"):
        rust_kernels.new_kernel(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_new_refuses_a_non_empty_folder(tmp_path: Path, sweep_cmd: list[str]) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    out = run_cli(sweep_cmd, "kernel", "new", "taken", "--dir", str(tmp_path))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'taken'} already exists and is not empty: choose another name "
        "or folder"
    ]
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"


def test_the_packaged_sdk_is_the_engine_crate() -> None:
    # One copy of the SDK's source: the package's kernel_sdk is a link to engine/kernel_sdk,
    # and pyproject's include glob (which follows it) puts its files into wheel and sdist.
    engine_sdk = REPO / "engine" / "kernel_sdk"
    packaged = REPO / "sweep_magic" / "kernel_sdk"
    assert packaged.resolve() == engine_sdk.resolve()
    assert rust_kernels.sdk_dir() == engine_sdk.resolve()
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["maturin"]
    patterns = [i["path"] for i in config["include"] if "wheel" in i["format"]]
    shipped = {
        Path(f).relative_to(packaged)
        for pattern in patterns
        for f in glob.glob(str(REPO / pattern), recursive=True)
        if Path(f).is_file() and Path(f).is_relative_to(packaged)
    }
    sources = {f.relative_to(engine_sdk) for f in engine_sdk.rglob("*") if f.is_file()}
    assert shipped == sources
    assert rust_kernels.sdk_hash(packaged) == rust_kernels.sdk_hash(engine_sdk)


def test_sdk_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEP_KERNEL_SDK", str(tmp_path))
    with pytest.raises(rust_kernels.KernelBuildError, match="SWEEP_KERNEL_SDK="):
        rust_kernels.sdk_dir()
    copy = tmp_path / "sdk"
    (copy / "src").mkdir(parents=True)
    engine_sdk = REPO / "engine" / "kernel_sdk"
    (copy / "Cargo.toml").write_text((engine_sdk / "Cargo.toml").read_text())
    monkeypatch.setenv("SWEEP_KERNEL_SDK", str(copy))
    assert rust_kernels.sdk_dir() == copy.resolve()
    crate = rust_kernels.new_kernel("uses_copy", tmp_path)
    assert json.dumps(str(copy.resolve())) in (crate / "Cargo.toml").read_text()


def test_compiler_messages_point_at_cell_lines() -> None:
    source = kernel_cells.generated_source("k", "fn params() {}\nfn run() { oops }\n")
    line = source.splitlines().index("fn run() { oops }") + 1
    rustc = (
        "error[E0425]: cannot find value `oops` in this scope\n"
        f"  --> src/lib.rs:{line}:12\n"
        "   |\n"
        f"{line:>2} | fn run() {{ oops }}\n"
        "   |            ^^^^ not found in this scope\n"
        f"  --> src/lib.rs:{line + 1}:1\n"
        "error: could not compile `sweep_cell_k_0123456789ab` (lib) due to 1 previous error\n"
    )
    shown = kernel_cells.cell_diagnostics(rustc, body_lines=2)
    assert "  --> cell line 2:12" in shown
    assert " 2 | fn run() { oops }" in shown
    assert "src/lib.rs" not in shown
    assert "generated export_kernel! call" in shown
    assert "sweep_cell_" not in shown
    assert 'description: ""' in source
    assert "description: DESCRIPTION" in kernel_cells.generated_source("k", OU_BODY)


# -- a crate, from the shell ------------------------------------------------------------------


@pytest.mark.slow
def test_scaffold_tests_builds_and_runs_from_the_shell(
    tmp_path: Path,
    root: Path,
    sweep_cmd: list[str],
    kernel_env: Path,
    report: Callable[[str], None],
) -> None:
    assert not tmp_path.is_relative_to(REPO)
    out = run_cli(sweep_cmd, "kernel", "new", "ou_shell", "--dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    crate = tmp_path / "ou_shell"
    assert sorted(p.relative_to(crate).as_posix() for p in crate.rglob("*") if p.is_file()) == [
        ".gitignore",
        "Cargo.toml",
        "README.md",
        "spec.yaml",
        "src/lib.rs",
        "tests/closed_form.rs",
    ]
    manifest = tomllib.loads((crate / "Cargo.toml").read_text())
    assert manifest["lib"]["crate-type"] == ["cdylib", "rlib"]
    sdk = manifest["dependencies"]["sweep_kernel_sdk"]["path"]
    assert Path(sdk) == (REPO / "engine" / "kernel_sdk").resolve()

    started = time.monotonic()
    out = run_cli(sweep_cmd, "kernel", "build", str(crate), "--json")
    first = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    built = json.loads(out.stdout)
    library = built["libraries"][0]
    assert built["name"] == "ou_shell"
    assert library["platform"] == "host"
    assert Path(library["path"]).is_relative_to(kernel_env / "target")
    assert library["sha256"] == hashlib.sha256(Path(library["path"]).read_bytes()).hexdigest()
    assert [p["name"] for p in built["experiment"]["params"]] == [
        "theta",
        "mu",
        "sigma",
        "x0",
        "t",
        "steps",
    ]

    # The scaffold's own test: the model against its closed form.
    env = dict(os.environ, CARGO_TARGET_DIR=str(kernel_env / "target"))
    test = subprocess.run(
        ["cargo", "test", "--quiet"],  # noqa: S607 - cargo from PATH, as a user runs it
        cwd=crate,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert test.returncode == 0, test.stdout + test.stderr
    assert "3 passed" in test.stdout

    # A one-line change: a warm rebuild.
    lib_rs = crate / "src" / "lib.rs"
    lib_rs.write_text(lib_rs.read_text().replace('"Long-run mean."', '"The long-run mean."'))
    started = time.monotonic()
    out = run_cli(sweep_cmd, "kernel", "build", str(crate))
    warm = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert "built kernel ou_shell" in out.stdout
    assert "The long-run mean." in out.stdout
    assert f"origin: {crate}, sha256 " in out.stdout
    report(f"rust kernel scaffold (CLI wall): first build {first:.1f} s, warm rebuild {warm:.1f} s")

    out = run_cli(sweep_cmd, "run", "spec.yaml", "--kernel", ".", "--json", cwd=crate)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert (summary["experiment"], summary["rows_ok"], summary["rows_failed"]) == (
        "ou_shell",
        1200,
        0,
    )
    manifest_file = root / "runs" / summary["run_id"] / "manifest.json"
    recorded = json.loads(manifest_file.read_text())
    assert recorded["kernel"]["origin"] == str(crate)
    sha = recorded["kernel"]["sha256"]
    assert recorded["spec"]["kernel_sha256"] == sha

    out = run_cli(sweep_cmd, "experiments", "--kernel", str(crate))
    assert f"origin: {crate}, sha256 {sha[:12]}" in out.stdout
    assert "origin: built-in" in out.stdout

    # SWEEP_KERNELS: a built library, loaded before the spec is validated.
    env = dict(os.environ, SWEEP_KERNELS=library["path"])
    out = subprocess.run(
        [*sweep_cmd, "validate", str(crate / "spec.yaml"), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["spec"]["kernel_sha256"] == sha
