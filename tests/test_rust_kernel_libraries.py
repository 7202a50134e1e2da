"""Kernel libraries the loader refuses, each with one line and nothing written (a file that
is no library, another ABI version, a truncated copy, bytes that do not match their SHA-256),
and the Lambda-compatible build."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
from test_rust_kernels import kernel_env, run_cli  # noqa: F401 - shared setup

import sweep_magic as sm
from sweep_magic import _native, rust_kernels


def test_a_file_that_is_no_library_is_refused(
    tmp_path: Path, root: Path, sweep_cmd: list[str]
) -> None:
    fake = tmp_path / "libfake.so"
    fake.write_text("not a library")
    with pytest.raises(sm.SpecError, match="is not a shared library") as info:
        sm.load_kernel(fake)
    assert "\n" not in str(info.value)
    spec = tmp_path / "s.yaml"
    spec.write_text("experiment: diag_sleep\n")
    out = run_cli(sweep_cmd, "run", str(spec), "--kernel", str(fake))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert "not a shared library" in out.stderr
    assert not root.exists()


WRONG_ABI = """
#[unsafe(no_mangle)]
pub extern "C" fn sweep_kernel_abi_version() -> u32 {
    2
}
"""
OTHER_SYMBOLS = """
#[unsafe(no_mangle)]
pub extern "C" fn sweep_kernel_declare() -> *const std::ffi::c_char {
    c"{}".as_ptr()
}

#[unsafe(no_mangle)]
pub extern "C" fn sweep_kernel_run() -> i32 {
    1
}
"""


def _plain_crate(parent: Path, name: str, source: str) -> Path:
    """A cdylib crate without the SDK, exporting whatever `source` does."""
    crate = parent / name
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text(
        f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[lib]\ncrate-type = ["cdylib"]\n\n[workspace]\n'
    )
    (crate / "src" / "lib.rs").write_text(source)
    return crate


@pytest.fixture(scope="module")
def ou_library(kernel_env: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A good kernel library, built from a scaffold, copied out of the target folder."""
    crate = rust_kernels.new_kernel("ou_bytes", tmp_path_factory.mktemp("ou_bytes"))
    built = rust_kernels.build_kernel(crate).host
    copy = crate / "libou_bytes.so"
    copy.write_bytes(built.path.read_bytes())
    return copy


@pytest.mark.slow
@pytest.mark.parametrize("with_other_symbols", [True, False], ids=["all-symbols", "abi-only"])
def test_a_library_for_another_abi_version_is_refused(
    tmp_path: Path, root: Path, sweep_cmd: list[str], with_other_symbols: bool
) -> None:
    source = WRONG_ABI + (OTHER_SYMBOLS if with_other_symbols else "")
    crate = _plain_crate(tmp_path, "abi_two", source)
    library = rust_kernels.build_kernel(crate).host.path
    with pytest.raises(sm.SpecError) as info:
        sm.load_kernel(library)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"kernel library {library} ")
    # The version is read first: with or without the other symbols, that is the complaint.
    assert "was built for kernel ABI version 2; this sweep_magic speaks version 1" in message
    spec = tmp_path / "s.yaml"
    spec.write_text("experiment: diag_sleep\n")
    out = run_cli(sweep_cmd, "run", str(spec), "--kernel", str(crate))
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        "error: " + message.replace(f"kernel library {library} ", f"kernel library {crate} ")
    ]
    assert not root.exists()


@pytest.mark.slow
def test_truncated_and_tampered_libraries_are_refused(
    ou_library: Path, tmp_path: Path, root: Path, sweep_cmd: list[str]
) -> None:
    data = ou_library.read_bytes()
    truncated = tmp_path / "libtruncated.so"
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(sm.SpecError) as info:
        sm.load_kernel(truncated)
    assert str(info.value).startswith(f"kernel library {truncated} is truncated or damaged: ")
    assert "\n" not in str(info.value)
    spec = tmp_path / "s.yaml"
    spec.write_text("experiment: diag_sleep\n")
    out = run_cli(sweep_cmd, "run", str(spec), "--kernel", str(truncated))
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1
    assert not root.exists()

    sha = hashlib.sha256(data).hexdigest()
    experiment = sm.load_kernel(ou_library)
    assert isinstance(experiment, sm.Experiment)
    assert experiment == sm.get_experiment("ou_bytes")
    assert (experiment.origin, experiment.sha256) == (str(ou_library), sha)

    with pytest.raises(sm.SpecError, match=f"expected {'0' * 64}") as info:
        _native.load_kernel_bytes(data, "shipped", "0" * 64)
    assert "\n" not in str(info.value)
    tampered = bytearray(data)
    tampered[-1] ^= 0xFF
    with pytest.raises(sm.SpecError, match=f"expected {sha}"):
        _native.load_kernel_bytes(bytes(tampered), "shipped", sha)
    entry = _native.load_kernel_bytes(data, "shipped", sha)
    assert (entry["name"], entry["sha256"], entry["origin"]) == ("ou_bytes", sha, "shipped")


@pytest.mark.slow
def test_lambda_build_needs_at_most_glibc_2_34(ou_library: Path, sweep_cmd: list[str]) -> None:
    out = run_cli(sweep_cmd, "kernel", "build", str(ou_library.parent), "--lambda", "--json")
    assert out.returncode == 0, out.stderr
    host, lam = json.loads(out.stdout)["libraries"]
    assert (host["platform"], lam["platform"]) == ("host", "lambda")
    assert "x86_64-unknown-linux-gnu" in Path(lam["path"]).parts
    objdump = subprocess.run(
        ["objdump", "-T", lam["path"]],  # noqa: S607 - binutils from PATH
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    versions = {tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_([\d.]+\d)", objdump)}
    assert versions
    assert max(versions) <= (2, 34)
    assert lam["glibc"] == ".".join(map(str, max(versions)))


@pytest.mark.slow
def test_schema_covers_a_loaded_kernel(ou_library: Path, sweep_cmd: list[str]) -> None:
    """`sweep schema --kernel` describes the kernel's spec like a built-in's; without it the
    schema is the committed one, built-ins only."""
    out = run_cli(sweep_cmd, "schema", "--kernel", str(ou_library))
    assert out.returncode == 0, out.stderr
    with_kernel = json.loads(out.stdout)
    plain = json.loads(run_cli(sweep_cmd, "schema").stdout)
    assert "ou_bytes" in json.dumps(with_kernel)
    assert "ou_bytes" not in json.dumps(plain)
    assert plain == json.loads((Path(__file__).parents[1] / "schema/spec.schema.json").read_text())
