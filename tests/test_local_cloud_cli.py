"""`sweep local-cloud up` as the README runs it: it finds the checkout the Lambdas are built
from, fails in one line naming the install command when the emulation extra is missing, and a
SIGTERM or SIGINT ends every process it started (moto's server, `cargo lambda watch` and the
function processes, which that one runs in sessions of their own)."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

import sweep_magic.local_cloud as local_cloud
from sweep_magic import cli
from sweep_magic.errors import BackendError
from sweep_magic.local_cloud import INSTALL_COMMAND, LocalCloud, find_checkout

REPO = Path(__file__).resolve().parents[1]
SWEEP = Path(sys.executable).parent / "sweep"
# The cargo features of the session's shared emulation (tests/conftest.py): the same build, so
# starting the CLI here rebuilds nothing and does not swap the binaries under that emulation.
SHARED_BUILD_FEATURES = "fault-injection"


def make_checkout(root: Path) -> Path:
    functions = root / "lambda" / "functions"
    functions.mkdir(parents=True)
    (functions / "Cargo.toml").write_text('[package]\nname = "sweep_lambda"\n')
    return root


# -- finding the checkout ------------------------------------------------------------------------


def test_the_checkout_is_found_from_an_installed_package(tmp_path: Path) -> None:
    """A non-editable install (scripts/demo.sh): the package is in site-packages, so the
    checkout is the current directory (or a parent), or the folder that holds the venv."""
    checkout = make_checkout(tmp_path / "clone")
    site = tmp_path / "venv" / "lib" / "site-packages" / "sweep_magic"
    site.mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    nested = checkout / "examples" / "deep"
    nested.mkdir(parents=True)

    def find(
        environ: dict[str, str] | None = None,
        cwd: Path = elsewhere,
        package_dir: Path = site,
        prefix: Path = tmp_path / "venv",
    ) -> Path:
        return find_checkout(environ=environ or {}, cwd=cwd, package_dir=package_dir, prefix=prefix)

    assert find(cwd=checkout) == checkout.resolve()
    assert find(cwd=nested) == checkout.resolve()
    assert find(prefix=checkout / ".venv") == checkout.resolve()
    # An editable install: the package's own folder is in the checkout.
    assert find(package_dir=checkout / "sweep_magic") == checkout.resolve()
    # SWEEP_SOURCE_DIR comes first, and must be a checkout.
    other = make_checkout(tmp_path / "other")
    assert find(environ={"SWEEP_SOURCE_DIR": str(other)}, cwd=checkout) == other.resolve()
    with pytest.raises(BackendError, match=r"SWEEP_SOURCE_DIR=.* is not a sweep_magic source"):
        find(environ={"SWEEP_SOURCE_DIR": str(elsewhere)}, cwd=checkout)
    # Nowhere: the message says what to do.
    with pytest.raises(BackendError, match="run it inside the checkout, or set SWEEP_SOURCE_DIR"):
        find()
    # A folder with a lambda/functions crate of another project is not a checkout.
    impostor = tmp_path / "impostor"
    (impostor / "lambda" / "functions").mkdir(parents=True)
    (impostor / "lambda" / "functions" / "Cargo.toml").write_text('[package]\nname = "x"\n')
    with pytest.raises(BackendError):
        find(cwd=impostor)


def test_this_checkout_is_found() -> None:
    assert find_checkout(environ={}) == REPO


def test_outside_a_checkout_the_cli_says_so_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "SWEEP_SOURCE_DIR": str(tmp_path), "TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    result = subprocess.run(
        [str(SWEEP), "local-cloud", "up"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: SWEEP_SOURCE_DIR=")
    assert not result.stdout
    assert not list((tmp_path / "tmp").iterdir()), "a refused start leaves no folder behind"


# -- the emulation extra -------------------------------------------------------------------------


def test_missing_extras_fail_in_one_line_naming_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(local_cloud.tempfile, "tempdir", None)  # read TMPDIR again
    real_find_spec = local_cloud.importlib.util.find_spec
    monkeypatch.setattr(
        local_cloud.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "moto" else real_find_spec(name, *a),
    )
    monkeypatch.setattr(local_cloud, "_cargo_lambda", lambda: None)
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("SWEEP_SOURCE_DIR", raising=False)
    started: list[object] = []
    monkeypatch.setattr(local_cloud.subprocess, "Popen", lambda *a, **k: started.append(a))

    assert cli.main(["local-cloud", "up"]) == 2
    out, err = capsys.readouterr()
    assert not out
    lines = err.strip().splitlines()
    assert len(lines) == 1, lines
    assert "moto" in lines[0]
    assert "cargo-lambda" in lines[0]
    assert local_cloud.install_command(REPO) in lines[0]
    assert not started, "nothing is started without the extra"
    assert not list(tmp_path.iterdir()), "nor any folder made"


def test_the_install_command_is_the_readmes_for_the_readmes_venv(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if Path(sys.executable) != REPO / ".venv" / "bin" / "python":
        pytest.skip("not running from the checkout's .venv")
    monkeypatch.chdir(REPO)
    assert local_cloud.install_command(REPO) == INSTALL_COMMAND


def test_the_lock_installs_the_emulation_and_cloud_extras() -> None:
    """What INSTALL_COMMAND installs: every package of the `emulation` and `cloud` extras,
    pinned with hashes (pip then checks every file)."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    lock_path = INSTALL_COMMAND.rsplit(" ", 1)[1]
    lock = (REPO / lock_path).read_text()
    for requirement in [*extras["emulation"], *extras["cloud"]]:
        name = re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert re.search(rf"^{re.escape(name)}==\S+ \\\n\s+--hash=sha256:", lock, flags=re.M), (
            f"{lock_path} does not pin {name} with hashes"
        )


def test_the_readme_lists_the_emulation_commands_in_order() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("Without an AWS account") :]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S)
    assert block is not None
    commands = [
        line.split("  #", 1)[0].strip()
        for line in block.group(1).splitlines()
        if line.strip() and not line.startswith("#")
    ]
    setup = re.search(r"## Two commands.*?```bash\n(.*?)\n```", readme, flags=re.S)
    assert setup is not None
    assert commands[:3] == [
        setup.group(1).strip(),
        INSTALL_COMMAND,
        ".venv/bin/sweep local-cloud up",
    ]
    assert commands[3].startswith(".venv/bin/sweep run ")
    assert commands[3].endswith("--cloud")
    assert "SWEEP_SOURCE_DIR" in section.split("##", 1)[0]


# -- stopping ------------------------------------------------------------------------------------

# A server that ignores SIGTERM and starts a helper in a session of its own, which ignores it
# too: what `cargo lambda watch` would leave behind if it were killed before its functions.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
helper = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
subprocess.Popen([sys.executable, "-c", helper], start_new_session=True)
print("ready", flush=True)
time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_stop_ends_what_ignores_sigterm_and_left_the_session(tmp_path: Path) -> None:
    cloud = LocalCloud(workdir=tmp_path)
    cloud._spawn([sys.executable, "-c", STUBBORN], "stubborn.log", "a stubborn server")
    server = cloud._procs[0].pid
    deadline = time.monotonic() + 30
    while "ready" not in (tmp_path / "stubborn.log").read_text():
        assert time.monotonic() < deadline, "the stub did not start"
        time.sleep(0.05)
    (helper,) = _children(server)
    assert os.getsid(helper) == helper, "the helper has a session of its own"
    assert set(cloud.pids()) == {server, helper}
    started = time.monotonic()
    cloud.stop(timeout=1.0)
    assert time.monotonic() - started < 10
    assert not _alive(server)
    assert not _alive(helper), "the helper outlived stop()"
    assert cloud.pids() == []
    cloud.stop()  # a second stop is harmless


def _table() -> dict[int, tuple[int, int, str]]:
    """Live processes: pid -> (parent, session, command line)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, UnicodeDecodeError):
            continue
        if fields[0] != "Z":
            table[int(entry.name)] = (int(fields[1]), int(fields[3]), command)
    return table


def _family(root: int) -> dict[int, str]:
    """Every live descendant of `root` (and members of its session), with its command line."""
    table = _table()
    family = {root} | {pid for pid, (_, session, _) in table.items() if session == root}
    grew = True
    while grew:
        more = {pid for pid, (parent, _, _) in table.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return {pid: table[pid][2] for pid in family if pid in table}


def _read_exports(proc: subprocess.Popen[str], timeout: float) -> dict[str, str]:
    """The `export K=V` lines `sweep local-cloud up` prints once it is up (read on a thread:
    a buffered pipe is not reliably seen as readable again)."""
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in stdout], daemon=True).start()
    exports: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while len(exports) < 8:
        assert proc.poll() is None, f"sweep local-cloud up exited with {proc.returncode}"
        assert time.monotonic() < deadline, "sweep local-cloud up did not come up in time"
        try:
            line = lines.get(timeout=1.0)
        except queue.Empty:
            continue
        match = re.fullmatch(r"export ([A-Z_0-9]+)=(\S+)\n", line)
        if match:
            exports[match.group(1)] = match.group(2)
    return exports


def _port_open(url: str) -> bool:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((host, int(port))) == 0


@pytest.mark.cloud
@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_every_process_the_emulation_started(
    signum: signal.Signals, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SWEEP_SOURCE_DIR"}
    env["TMPDIR"] = str(tmp_path)  # where its logs go
    stderr = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen(
        [
            str(SWEEP),
            "local-cloud",
            "up",
            "--concurrency",
            "2",
            "--features",
            SHARED_BUILD_FEATURES,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=stderr,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,  # its own session: what survives it is found by /proc below
    )
    family: dict[int, str] = {}
    try:
        # The first start in a fresh target/ builds the Lambdas.
        exports = _read_exports(proc, timeout=1500)
        api, s3 = exports["SWEEP_API_URL"], exports["AWS_ENDPOINT_URL_S3"]
        with urllib.request.urlopen(f"{api}/experiments", timeout=60) as answer:
            assert answer.status == 200
        family = _family(proc.pid)
        sessions = {os.getsid(pid) for pid in family}
        commands = " ".join(family.values())
        for needle in ("moto.server", "cargo-lambda lambda watch", "/debug/orchestrator"):
            assert needle in commands, f"{needle} is not running: {sorted(family.values())}"
        functions = [p for p, c in family.items() if re.search(r"/debug/(orchestrator|worker)", c)]
        assert any(os.getsid(p) != proc.pid for p in functions), (
            "the function processes are expected in sessions of their own (cargo lambda watch)"
        )

        os.kill(proc.pid, signum)
        assert proc.wait(timeout=60) == 0, (tmp_path / "stderr.log").read_text()
        deadline = time.monotonic() + 10
        while (survivors := [p for p in family if _alive(p)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not survivors, {p: family[p] for p in survivors}
        # Nor anything started meanwhile in one of their sessions.
        left = {pid: c for pid, (_, session, c) in _table().items() if session in sessions}
        assert not left, left
        assert not _port_open(api), "the Lambda emulator's port is still open"
        assert not _port_open(s3), "the S3 server's port is still open"
        assert "local cloud emulation stopped" in (tmp_path / "stderr.log").read_text()
    finally:
        # Only when the test failed: end what it started, by pid.
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in family:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        stderr.close()
