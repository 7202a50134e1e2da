"""Kernels written in Rust outside sweep_magic: scaffold a crate, build it, load the library.

A kernel crate depends on the kernel SDK (``sweep_kernel_sdk``), whose source travels inside
this package (``sweep_magic/kernel_sdk``, the same files as ``engine/kernel_sdk``). Building it
gives a shared library exporting the SDK's C ABI; loading one registers it in this process's
experiment registry, next to the built-in and Python kernels, so specs, runs, the editor and
the Ray backend use it like any other experiment. Each run records the library's SHA-256.

One implementation serves every door: ``sweep kernel new|build`` and ``sweep run --kernel``
(:mod:`sweep_magic.cli`), :func:`sweep_magic.load_kernel`, the ``SWEEP_KERNELS`` variable and
the ``%%sweep kernel`` cell magic (:mod:`sweep_magic.kernel_cells`).

Settings: ``SWEEP_KERNEL_SDK`` (the SDK source to build against), ``SWEEP_KERNEL_TARGET``
(the cargo target folder every build shares, default ``~/.cache/sweep_magic/target``, so the
SDK compiles once for all kernels), ``SWEEP_KERNELS`` (crate folders or library files,
separated by ``:``, loaded before a spec is validated).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from . import _native
from ._elf import newest_glibc
from .errors import SpecError, SweepError
from .experiments import Experiment, _registry, experiment_from_entry

__all__ = [
    "Build",
    "KernelBuildError",
    "Library",
    "build_kernel",
    "load_env_kernels",
    "load_kernel",
    "load_library",
    "new_kernel",
    "sdk_dir",
]

SDK_ENV = "SWEEP_KERNEL_SDK"
TARGET_ENV = "SWEEP_KERNEL_TARGET"
KERNELS_ENV = "SWEEP_KERNELS"
#: Newest glibc a library may need to load in AWS Lambda (Amazon Linux 2023).
LAMBDA_GLIBC = (2, 34)
LAMBDA_TRIPLE = "x86_64-unknown-linux-gnu"

_HERE = Path(__file__).resolve().parent
_TEMPLATE = _HERE / "kernel_template"
#: Scaffold file -> template file.
_SCAFFOLD = {
    "Cargo.toml": "Cargo.toml",
    "src/lib.rs": "lib.rs",
    "tests/closed_form.rs": "closed_form.rs",
    "README.md": "README.md",
    "spec.yaml": "spec.yaml",
    ".gitignore": "gitignore",
}
_SNAKE = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")
# Rust keywords cannot name a crate.
_KEYWORDS = frozenset(
    (  # noqa: SIM905 - a list of words reads best as text
        "as async await break const continue crate dyn else enum extern false fn for gen if impl "
        "in let loop match mod move mut pub ref return self static struct super trait true type "
        "unsafe use where while abstract become box do final macro override priv try typeof "
        "unsized virtual yield"
    ).split()
)


class KernelBuildError(SweepError):
    """Building a kernel crate failed: no cargo, a compile error, no cdylib, or a library
    too new for Lambda. ``output`` holds what the compiler printed, when it was captured."""

    def __init__(self, message: str, path: str = "", output: str = "") -> None:
        super().__init__(message, path)
        self.output = output


@dataclass(frozen=True)
class Library:
    """A built kernel library."""

    path: Path
    sha256: str
    #: ``host`` (this machine) or ``lambda`` (x86_64 Linux, glibc <= 2.34).
    platform: str
    #: Newest glibc symbol version it needs, e.g. ``2.34`` (checked for ``lambda``).
    glibc: str | None = None


@dataclass(frozen=True)
class Build:
    """What :func:`build_kernel` made."""

    crate: Path
    package: str
    libraries: tuple[Library, ...]
    seconds: float
    #: The compiler's warnings (captured builds only).
    output: str = ""

    @property
    def host(self) -> Library:
        """The library for this machine."""
        return self.libraries[0]


def check_name(name: str) -> str:
    """``name`` if it is a valid kernel name (snake_case, at most 64 characters)."""
    if not _SNAKE.match(name) or name in _KEYWORDS:
        raise SpecError(
            f"kernel name {name!r} is not snake_case: start with a lowercase letter, then "
            "lowercase letters, digits or _ (at most 64 characters, not a Rust keyword)",
            "name",
        )
    return name


def cache_dir() -> Path:
    """sweep_magic's cache folder (``$XDG_CACHE_HOME/sweep_magic``, else ``~/.cache/...``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sweep_magic"


def target_dir() -> Path:
    """The cargo target folder all kernel builds share (``SWEEP_KERNEL_TARGET``)."""
    return Path(os.environ.get(TARGET_ENV) or cache_dir() / "target").expanduser().resolve()


def sdk_dir() -> Path:
    """The kernel SDK's source: ``SWEEP_KERNEL_SDK`` if set, else the copy in this package,
    else ``engine/kernel_sdk`` of the source checkout this package runs from."""
    override = os.environ.get(SDK_ENV)
    candidates = (
        [Path(override).expanduser()]
        if override
        else [_HERE / "kernel_sdk", _HERE.parent / "engine" / "kernel_sdk"]
    )
    for candidate in candidates:
        manifest = candidate / "Cargo.toml"
        if manifest.is_file() and 'name = "sweep_kernel_sdk"' in manifest.read_text("utf-8"):
            return candidate.resolve()
    where = f"{SDK_ENV}={override}" if override else " or ".join(map(str, candidates))
    raise KernelBuildError(
        f"the kernel SDK's source (crate sweep_kernel_sdk) is not at {where}; set {SDK_ENV} "
        "to a copy of engine/kernel_sdk"
    )


def sdk_hash(sdk: Path) -> str:
    """SHA-256 over the SDK's manifest and sources (names and contents)."""
    digest = hashlib.sha256()
    files = [sdk / "Cargo.toml", *sorted((sdk / "src").rglob("*.rs"))]
    for f in files:
        digest.update(f.relative_to(sdk).as_posix().encode() + b"\0")
        digest.update(f.read_bytes() + b"\0")
    return digest.hexdigest()


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        fallback = Path.home() / ".cargo" / "bin" / name
        if not fallback.is_file():
            raise KernelBuildError(
                f"{name} is not on PATH (nor in ~/.cargo/bin): install Rust from https://rustup.rs"
            )
        found = str(fallback)
    return found


@cache
def rustc_version() -> str:
    """``rustc -vV`` of the toolchain builds use (once per process)."""
    out = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [_tool("rustc"), "-vV"], capture_output=True, text=True, check=False
    )
    return out.stdout.strip()


def render(template: str, **values: str) -> str:
    """A template file of ``kernel_template`` with ``{{key}}`` replaced by the values."""
    text = (_TEMPLATE / template).read_text("utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def new_kernel(name: str, parent: str | os.PathLike[str] = ".") -> Path:
    """Scaffolds kernel crate ``parent/name`` (an Ornstein-Uhlenbeck model to replace, its
    closed-form test, a README and a first spec); returns its folder."""
    check_name(name)
    dest = Path(parent).expanduser().resolve() / name
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise SpecError(f"{dest} already exists and is not empty: choose another name or folder")
    values = {"name": name, "sdk_path": json.dumps(str(sdk_dir()))}
    for rel, template in _SCAFFOLD.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(template, **values), "utf-8")
    return dest


def _package_name(manifest: Path) -> str:
    try:
        name = tomllib.loads(manifest.read_text("utf-8"))["package"]["name"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise KernelBuildError(f"{manifest}: cannot read the package name ({exc})") from None
    return str(name)


def _claim(profile_dir: Path, package: str, manifest: Path) -> None:
    """Makes the next build of ``package`` really compile if another crate of the same name
    built into the shared target folder last.

    A cdylib's file name carries no hash, and cargo identifies a root package by name and
    relative path, so two crates named alike in different folders share one output slot and
    one fingerprint: after building one, cargo would call the other fresh and hand back the
    first one's library. The owner of each slot is recorded; a new owner drops the slot's
    fingerprint, so cargo recompiles (a second or so) instead of reusing a stranger's file.
    """
    owners_file = profile_dir / ".sweep_magic_owners.json"
    try:
        owners = json.loads(owners_file.read_text("utf-8"))
    except (OSError, ValueError):
        owners = {}
    if owners.get(package) == str(manifest):
        return
    for name in {package, package.replace("-", "_")}:
        for stale in (profile_dir / ".fingerprint").glob(f"{name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
    owners[package] = str(manifest)
    profile_dir.mkdir(parents=True, exist_ok=True)
    tmp = owners_file.with_name(f"{owners_file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(owners, indent=1), "utf-8")
    tmp.replace(owners_file)


def _cargo_build(manifest: Path, package: str, platform: str, capture: bool) -> tuple[Library, str]:
    target = target_dir()
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    if platform == "lambda":
        # cargo-lambda links through zig against an old glibc (as scripts/package_lambdas.sh
        # does for the Lambdas); both come with the [emulation] extra, beside this Python.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        if shutil.which("cargo-lambda", path=env["PATH"]) is None:
            raise KernelBuildError(
                "--lambda needs cargo-lambda and zig: pip install 'sweep_magic[emulation]'"
            )
        cmd = [_tool("cargo"), "lambda", "build", "--x86-64"]
        profile_dir = target / LAMBDA_TRIPLE / "release"
    else:
        cmd = [_tool("cargo"), "build"]
        profile_dir = target / "release"
    cmd += ["--release", "--lib", "--manifest-path", str(manifest)]
    cmd += ["--message-format", "json-render-diagnostics"]
    if capture:
        cmd += ["--quiet", "--color", "never"]
    _claim(profile_dir, package, manifest)
    proc = subprocess.run(  # noqa: S603 - an argument list, no shell
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if capture else None,
        text=True,
        check=False,
    )
    output = proc.stderr or ""
    crate = manifest.parent
    if proc.returncode != 0:
        shown = f":\n{output.rstrip()}" if capture else " (the compiler's messages are above)"
        raise KernelBuildError(f"kernel crate {crate} does not build{shown}", output=output)
    artifact = None
    for line in proc.stdout.splitlines():
        msg = json.loads(line) if line.startswith("{") else {}
        if (
            msg.get("reason") == "compiler-artifact"
            and Path(msg.get("manifest_path", "")) == manifest
            and "cdylib" in msg["target"]["kind"]
        ):
            artifact = next(
                (f for f in msg["filenames"] if f.endswith((".so", ".dylib", ".dll"))), None
            )
    if artifact is None:
        raise KernelBuildError(
            f"kernel crate {crate} built no shared library: its Cargo.toml needs "
            '[lib] crate-type = ["cdylib", "rlib"]',
            output=output,
        )
    path = Path(artifact)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    glibc = newest_glibc(path)
    glibc_text = ".".join(map(str, glibc)) if glibc else None
    if platform == "lambda" and (glibc is None or glibc > LAMBDA_GLIBC):
        need = f"needs glibc {glibc_text}" if glibc else "names no glibc version (objdump -T)"
        raise KernelBuildError(
            f"{path} {need}: Lambda (Amazon Linux 2023) has glibc 2.34", output=output
        )
    return Library(path, sha, platform, glibc_text), output


def build_kernel(
    crate: str | os.PathLike[str], *, lambda_build: bool = False, capture: bool = True
) -> Build:
    """Builds kernel crate ``crate`` (``cargo build --release --lib``) in the shared target
    folder; ``lambda_build`` also builds a Lambda-compatible library. With ``capture`` the
    compiler's messages go into the error (or :attr:`Build.output`), else to stderr."""
    folder = Path(crate).expanduser().resolve()
    manifest = folder / "Cargo.toml"
    if not manifest.is_file():
        raise KernelBuildError(
            f"{folder} has no Cargo.toml: give a kernel crate folder (sweep kernel new NAME "
            "makes one) or a built library file"
        )
    package = _package_name(manifest)
    started = time.monotonic()
    platforms = ["host", "lambda"] if lambda_build else ["host"]
    built = [_cargo_build(manifest, package, p, capture) for p in platforms]
    libraries = tuple(library for library, _ in built)
    output = "".join(text for _, text in built)
    return Build(folder, package, libraries, time.monotonic() - started, output)


def load_library(
    path: str | os.PathLike[str], *, origin: str | None = None, sha256: str | None = None
) -> Experiment:
    """Loads a built kernel library and registers it (replacing an earlier build of the
    same kernel); ``origin`` labels it (default: the file's path)."""
    if origin is None:
        entry = _native.load_kernel(str(path))
    else:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise SpecError(f"kernel library {path}: {exc.strerror}") from None
        entry = _native.load_kernel_bytes(data, origin, sha256)
    _registry.cache_clear()
    return experiment_from_entry(entry)


def load_kernel(path: str | os.PathLike[str]) -> Experiment:
    """Loads the Rust kernel at ``path`` and returns its experiment: a crate folder (built
    first; a compile error raises :class:`KernelBuildError` with the compiler's messages) or
    a built library file. A kernel of the same name loaded before is replaced for new runs;
    runs already made keep the build they recorded."""
    p = Path(path).expanduser()
    if p.is_dir():
        build = build_kernel(p)
        return load_library(build.host.path, origin=str(build.crate), sha256=build.host.sha256)
    if not p.exists():
        raise SpecError(f"kernel {path}: no such crate folder or library file")
    return load_library(p)


def load_kernels(paths: Iterable[str | os.PathLike[str]]) -> list[Experiment]:
    """:func:`load_kernel` for each path, in order."""
    return [load_kernel(p) for p in paths]


_env_loaded: str | None = None


def load_env_kernels() -> list[Experiment]:
    """Loads the kernels ``SWEEP_KERNELS`` lists (crate folders or library files separated
    by ``:``), once per value of the variable; called before a spec is validated or a run
    resumed, so every door sees them."""
    global _env_loaded
    value = os.environ.get(KERNELS_ENV, "")
    if value == _env_loaded:
        return []
    try:
        loaded = load_kernels(p for p in value.split(os.pathsep) if p.strip())
    except SweepError as exc:
        raise type(exc)(f"{KERNELS_ENV}: {exc}", exc.path) from None
    _env_loaded = value
    return loaded
