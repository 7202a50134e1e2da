"""The ray backend as a new user meets it: a cluster chosen by address, an address nobody
answers on, Ray's own output next to `--json`, and a backend that cannot start at all.

Every Ray here runs in a subprocess (the `sweep` command, a small driver script, or a Ray head
of this module's own with its own temp dir, ports and token, stopped by its PID), so this
process never holds a Ray connection that another test module would inherit."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest

import sweep_magic as sm

pytestmark = pytest.mark.ray

pytest.importorskip("ray")

BIN = Path(sys.executable).parent

#: A spec whose rows are cheap and deterministic, compared value for value with `local`.
GBM = {
    "experiment": "gbm_option",
    "seed": 11,
    "replicates": 3,
    "shard_size": 2,
    "params": {"s0": 100, "strike": {"linspace": [80, 120, 6]}, "sigma": [0.2, 0.3]},
}

#: Four shards of about 1.2 s each: long enough to kill a worker in the middle of one.
SLOW = {
    "experiment": "diag_sleep",
    "replicates": 4,
    "shard_size": 1,
    "params": {"micros": {"range": [300000, 300004, 1]}},
}

#: A sitecustomize for Ray workers only: once a task has imported the engine, the worker prints
#: a line on stdout and one on stderr, as a kernel or a library that prints would.
WORKER_PRINTS = """\
import sys
import threading
import time

if sys.argv and sys.argv[0].endswith("default_worker.py"):

    def _announce():
        while "sweep_magic._native" not in sys.modules:
            time.sleep(0.02)
        print("worker-line-on-stdout", flush=True)
        print("worker-line-on-stderr", file=sys.stderr, flush=True)

    threading.Thread(target=_announce, daemon=True).start()
"""

#: A sitecustomize that makes `import ray` fail, as on a machine without the `[ray]` extra.
NO_RAY = """\
import sys


class _NoRay:
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray'")
        return None


sys.meta_path.insert(0, _NoRay())
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(root: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["SWEEP_ROOT"] = str(root)
    env.update(extra)
    return env


def _sweep(
    args: list[str], env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "sweep"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _spec_file(tmp_path: Path, spec: dict[str, Any], name: str = "spec.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return path


def _assert_no_run(root: Path) -> None:
    runs = root / "runs"
    assert not runs.exists() or not any(runs.iterdir()), sorted(runs.iterdir())
    assert sm.runs(root).empty


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def _rows(run: sm.Run) -> pd.DataFrame:
    return run.to_pandas().drop(columns="duration_us")


def _shim(tmp_path: Path, source: str) -> str:
    folder = tmp_path / "shim"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(source)
    return str(folder)


# -- a Ray cluster of this module's own ----------------------------------------------------------


@dataclass(frozen=True)
class Head:
    address: str
    port: int
    pid: int
    #: What a driver needs to be let in: the head uses Ray's token authentication.
    auth: dict[str, str]


@pytest.fixture(scope="module")
def head() -> Iterator[Head]:
    """A Ray head started as `ray start --head --block` with its own temp dir (short, for
    Ray's socket paths), ports and token, whose workers print (WORKER_PRINTS); stopped by
    killing its process group, which holds every process of the cluster."""
    base = Path(tempfile.mkdtemp(prefix="rh", dir="/tmp"))
    token = base / "token"
    token.write_text(secrets.token_hex(32))
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    shim = base / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(WORKER_PRINTS)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(auth, PYTHONPATH=str(shim), RAY_USAGE_STATS_ENABLED="0")
    log = (base / "head.log").open("w")
    proc = subprocess.Popen(
        [
            str(BIN / "ray"),
            "start",
            "--head",
            "--block",
            f"--port={port}",
            f"--temp-dir={base / 'rt'}",
            "--num-cpus=2",
            "--include-dashboard=false",
            "--disable-usage-stats",
            f"--dashboard-port={_free_port()}",
            f"--dashboard-agent-listen-port={_free_port()}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (base / "rt" / "ray_current_cluster").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray start did not come up:\n{(base / 'head.log').read_text()}")
            time.sleep(0.5)
        yield Head(f"127.0.0.1:{port}", port, proc.pid, auth)
    finally:
        # Our own cluster only: its process group is the session `ray start` leads.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        log.close()
        shutil.rmtree(base, ignore_errors=True)


DRIVER = """\
import json, sys
import ray
import sweep_magic as sm

spec, address = json.loads(sys.argv[1]), sys.argv[2]
run = sm.run(spec, backend="ray", address=address).wait()
print(json.dumps({"run_id": run.run_id, "gcs": ray.get_runtime_context().gcs_address}))
"""


@pytest.mark.slow
def test_address_in_python_runs_on_that_cluster_with_the_local_rows(head: Head, root: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(GBM), head.address],
        capture_output=True,
        text=True,
        env=_env(root, **head.auth),
        timeout=240,
    )
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    # The driver joined this module's head (its GCS port), not a Ray of its own.
    assert found["gcs"].rsplit(":", 1)[1] == str(head.port)
    on_ray = sm.open_run(found["run_id"], root)
    assert on_ray.status().state == "complete"
    local = sm.run(GBM, backend="local").wait()
    pd.testing.assert_frame_equal(_rows(on_ray), _rows(local))


def _kill_a_running_task(session: int, stop: threading.Event, killed: list[int]) -> None:
    """Kills (SIGKILL, by PID) the first worker of the head's session seen running a task."""
    while not stop.is_set():
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                title = (proc.info["cmdline"] or [""])[0]
                if title.startswith("ray::_compute_shards") and os.getsid(proc.pid) == session:
                    time.sleep(0.3)  # in the middle of its shard
                    proc.kill()
                    killed.append(proc.pid)
                    return
            except (psutil.Error, OSError):
                continue
        time.sleep(0.05)


@pytest.mark.slow
def test_cli_address_json_stdout_is_only_json_when_a_worker_dies(
    head: Head, root: Path, tmp_path: Path
) -> None:
    stop, killed = threading.Event(), list[int]()
    killer = threading.Thread(target=_kill_a_running_task, args=(head.pid, stop, killed))
    killer.start()
    try:
        out = _sweep(
            [
                *("run", str(_spec_file(tmp_path, SLOW)), "--backend", "ray"),
                *("--address", head.address, "--json"),
            ],
            _env(root, **head.auth),
        )
    finally:
        stop.set()
        killer.join()
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)  # nothing but the result on stdout
    assert summary["rows_ok"] == 16
    assert sm.open_run(summary["run_id"], root).status().state == "complete"
    assert killed, "no task worker was seen to kill"
    # Ray did speak (the lost worker, the workers' own lines), on stderr.
    assert "worker died" in out.stderr.lower()
    assert "worker-line-on-stdout" in out.stderr
    assert "worker-line-on-stderr" in out.stderr


@pytest.mark.slow
def test_a_cluster_that_refuses_the_driver_fails_in_one_line(
    head: Head, root: Path, tmp_path: Path
) -> None:
    # The head wants a token; this driver has Ray's default (no authentication).
    out = _sweep(
        ["run", str(_spec_file(tmp_path, GBM)), "--backend", "ray", "--address", head.address],
        _env(root, SWEEP_RAY_CONNECT_TIMEOUT="5"),
    )
    assert out.returncode == 2, out.stderr
    line = _one_line(out.stderr)
    assert head.address in line, line
    assert "RAY_AUTH_MODE" in line, line
    _assert_no_run(root)


# -- an address nobody answers on: no Ray is started ----------------------------------------------


def test_unreachable_ray_address_from_the_environment_fails_in_one_line(
    root: Path, tmp_path: Path
) -> None:
    address = f"127.0.0.1:{_free_port()}"  # nothing listens there
    out = _sweep(
        ["run", str(_spec_file(tmp_path, GBM)), "--backend", "ray"],
        _env(root, RAY_ADDRESS=address),
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    line = _one_line(out.stderr)
    assert line.startswith("error: "), line
    assert address in line, line
    assert out.stdout == ""
    _assert_no_run(root)


UNREACHABLE = """\
import sys
import sweep_magic as sm

try:
    sm.run({"experiment": "diag_sleep"}, backend="ray", address=sys.argv[1])
except sm.BackendError as exc:
    print(exc)
    sys.exit(3)
"""


def test_unreachable_address_in_python_raises_a_backend_error(root: Path) -> None:
    address = f"127.0.0.1:{_free_port()}"
    out = subprocess.run(
        [sys.executable, "-c", UNREACHABLE, address],
        capture_output=True,
        text=True,
        env=_env(root),
        timeout=120,
    )
    assert out.returncode == 3, out.stdout + out.stderr
    assert address in out.stdout
    assert out.stderr.strip() == "", out.stderr  # no flood of Ray warnings
    _assert_no_run(root)


def test_a_port_that_is_not_ray_fails_within_the_connect_timeout(
    root: Path, tmp_path: Path
) -> None:
    # Something listens (the kernel completes the handshake) but never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        out = _sweep(
            ["run", str(_spec_file(tmp_path, GBM)), "--backend", "ray", "--address", address],
            _env(root, SWEEP_RAY_CONNECT_TIMEOUT="2"),
            timeout=120,
        )
    assert out.returncode == 2, out.stderr
    line = _one_line(out.stderr)
    assert address in line, line
    assert "SWEEP_RAY_CONNECT_TIMEOUT" in line, line
    _assert_no_run(root)


def test_a_bad_connect_timeout_is_named(root: Path, tmp_path: Path) -> None:
    out = _sweep(
        ["run", str(_spec_file(tmp_path, GBM)), "--backend", "ray"],
        _env(root, RAY_ADDRESS=f"127.0.0.1:{_free_port()}", SWEEP_RAY_CONNECT_TIMEOUT="soon"),
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "SWEEP_RAY_CONNECT_TIMEOUT" in _one_line(out.stderr)
    _assert_no_run(root)


def test_without_ray_installed_nothing_is_written(root: Path, tmp_path: Path) -> None:
    out = _sweep(
        ["run", str(_spec_file(tmp_path, GBM)), "--backend", "ray"],
        _env(root, PYTHONPATH=_shim(tmp_path, NO_RAY)),
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert "[ray]" in _one_line(out.stderr)
    _assert_no_run(root)


# -- a local Ray started by the command ----------------------------------------------------------


@pytest.mark.slow
def test_cli_json_on_a_local_ray_sends_worker_output_to_stderr(root: Path, tmp_path: Path) -> None:
    out = _sweep(
        ["run", str(_spec_file(tmp_path, SLOW)), "--backend", "ray", "--json"],
        _env(root, PYTHONPATH=_shim(tmp_path, WORKER_PRINTS)),
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows_ok"] == 16
    assert "worker-line-on-stdout" in out.stderr
    assert "worker-line-on-stderr" in out.stderr
