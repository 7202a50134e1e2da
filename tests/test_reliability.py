"""Faults survived, nothing lost: each test injects one fault into a run (a process killed by
signal, a duplicate delivery, S3 failing or hanging, the dispatcher dying, the client going
away, a cancel) and ends with the invariant of docs/design.md: every (point, replicate) exactly
once in results or failures, with the values of a clean run.

Cloud tests run against the session's shared local emulation (tests/conftest.py: moto's S3 +
the real Lambda binaries under `cargo lambda watch`, built with the test-only `fault-injection`
feature), with a fault-injecting proxy between the Lambdas and S3. Local tests use the local
backend. Every test here takes seconds (`slow`); the cloud ones are also `cloud`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _faults import Emulation, assert_exactly_once, kill_all, lambda_pids

import sweep_magic as sm
from sweep_magic.backends.cloud import CloudClient, CloudRun

pytestmark = pytest.mark.slow

# 20 points x 2 replicates in 10 shards; about a quarter of the rows fail (by their seed).
FAILING = {
    "experiment": "diag_fail",
    "seed": 11,
    "replicates": 2,
    "shard_size": 2,
    "params": {"fail_rate": {"linspace": [0.1, 0.4, 20]}},
}


# -- helpers -----------------------------------------------------------------------------------


def _clean(spec: dict[str, Any], root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Results and failures of an uninterrupted local run of ``spec``."""
    run = sm.run(spec, backend="local", root=root / "clean").wait()
    return run.to_pandas(), run.failures()


def _check(run: sm.Run, spec: dict[str, Any], root: Path) -> None:
    status = run.status()
    assert status.state == "complete", status
    clean_results, clean_failures = _clean(spec, root)
    assert_exactly_once(
        run.to_pandas(),
        run.failures(),
        clean_results,
        clean_failures,
        run.plan["points"],
        run.plan["replicates"],
    )


def _until(what: str, check: Callable[[], bool], limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _settle(handle: CloudRun, seconds: float = 2.0, limit: float = 90.0) -> int:
    """Polls until shards_done stops changing for ``seconds``."""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        done = handle.status().shards_done
        if done != last:
            last, since = done, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return done
        time.sleep(0.2)
    raise AssertionError("the run did not settle")


# -- the shared emulation (tests/conftest.py): Lambdas behind a fault-injecting S3 proxy -------


@pytest.fixture
def cloud_env(
    emulation: Emulation, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Emulation]:
    for key, value in emulation.cloud.client_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(CloudRun, "poll_s", 0.2)
    emulation.clear()
    yield emulation
    emulation.clear()


# -- cloud faults ------------------------------------------------------------------------------


@pytest.mark.cloud
def test_worker_killed_mid_shard_loses_nothing(
    cloud_env: Emulation, tmp_path: Path, report: Callable[[str], None]
) -> None:
    cloud_env.slow(3, 5000)
    handle = sm.run(FAILING, backend="cloud")
    pid_file = cloud_env.faults / "in-shard-3.pid"
    _until("a worker inside shard 3", pid_file.exists)
    time.sleep(0.2)
    pid = int(pid_file.read_text())
    assert pid in lambda_pids(cloud_env.emulator_pid, "worker")
    assert kill_all([pid]) == 1  # SIGKILL, mid-shard: started marker written, no data yet
    cloud_env.clear()
    done = _settle(handle, seconds=1.5)
    assert done == 9, done  # the killed shard has no marker; its partner (2) does
    resumed = sm.resume(handle.run_id, backend="cloud")
    resumed.wait(timeout=120)
    _check(resumed, FAILING, tmp_path)
    report(f"reliability: worker SIGKILLed mid-shard 3 of {handle.run_id}; resume completed it")


@pytest.mark.cloud
def test_the_same_shard_delivered_twice_at_once_writes_it_once(
    cloud_env: Emulation, tmp_path: Path
) -> None:
    spec = {**FAILING, "shard_size": 10}  # 2 shards, one invocation from the dispatcher
    cloud_env.slow(0, 1500)  # every delivery of shard 0 stays inside it for 1.5 s
    handle = sm.run(spec, backend="cloud")
    payload = {"version": 1, "run_id": handle.run_id, "shards": [0]}
    answers: list[tuple[int, Any]] = []
    threads = [
        threading.Thread(target=lambda: answers.append(cloud_env.cloud.invoke("worker", payload)))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    # Both extra deliveries were inside the shard at the same time, so both computed it.
    assert [a[0] for a in answers] == [200, 200], answers
    assert [a[1]["computed"] for a in answers] == [[0], [0]], answers
    handle.wait(timeout=60)
    _check(handle, spec, tmp_path)
    # One data file per shard and table: the duplicates rewrote the same keys.
    assert handle.plan["shards"] == 2


@pytest.mark.cloud
def test_s3_errors_and_timeouts_for_a_while_are_retried(
    cloud_env: Emulation, tmp_path: Path, report: Callable[[str], None]
) -> None:
    proxy = cloud_env.proxy
    before = proxy.faulted
    # Short faults are absorbed by the S3 client's retries (100/300/900 ms backoff): the run
    # completes with no resume.
    for shard in (2, 5, 8):
        cloud_env.slow(shard, 700)
    handle = sm.run(FAILING, backend="cloud")
    _until("a worker inside a slow shard", lambda: any(cloud_env.faults.glob("in-shard-*.pid")))
    proxy.fail(0.8)
    time.sleep(1.2)
    proxy.hang(1.5)  # requests time out after 1 s (SWEEP_S3_TIMEOUT_MS) and are retried
    time.sleep(2.0)
    handle.wait(timeout=120)
    _check(handle, FAILING, tmp_path)
    short = proxy.faulted - before
    assert short > 0

    # A long outage outlasts the S3 client's retries: the invocations in flight fail (their
    # shards get no marker). The emulator answers a failed invocation with a 5xx, which the
    # dispatcher retries as Lambda retries a failed asynchronous invocation; whatever is
    # still pending afterwards, resume finishes.
    cloud_env.clear()
    for shard in range(10):
        cloud_env.slow(shard, 600)
    handle = sm.run(FAILING, backend="cloud")
    _until("a worker inside a shard", lambda: any(cloud_env.faults.glob("in-shard-*.pid")))
    proxy.fail(6.0)
    time.sleep(6.5)
    cloud_env.clear()
    done = _settle(handle, seconds=2.0)
    failed = [
        line
        for line in cloud_env.cloud.log_path.read_text().splitlines()
        if '"shards failed"' in line and handle.run_id in line
    ]
    assert failed, "the outage should have failed some worker invocations"
    resumed = sm.resume(handle.run_id, backend="cloud")
    resumed.wait(timeout=120)
    _check(resumed, FAILING, tmp_path)
    report(
        f"reliability: S3 proxy faulted {short} requests in short 503/hang windows (survived by "
        f"the S3 client's retries) and {proxy.faulted - before - short} in a 6 s outage "
        f"({len(failed)} worker invocations failed; {done}/10 shards done before resume)"
    )


@pytest.mark.cloud
def test_orchestrator_killed_mid_dispatch_then_resume(cloud_env: Emulation, tmp_path: Path) -> None:
    # 20 shards in 10 invocations, 4 in flight, each of 2 x 0.4 s: a fan-out of about 1 s.
    spec = {**FAILING, "params": {"fail_rate": {"linspace": [0.1, 0.4, 40]}}}
    for shard in range(20):
        cloud_env.slow(shard, 400)
    handle = sm.run(spec, backend="cloud")
    pid_file = cloud_env.faults / "dispatching.pid"
    _until("the dispatcher", pid_file.exists)
    _until("the first shards", lambda: len(list(cloud_env.faults.glob("in-shard-*.pid"))) >= 2)
    pid = int(pid_file.read_text())
    assert pid in lambda_pids(cloud_env.emulator_pid, "orchestrator")
    assert kill_all([pid]) == 1
    cloud_env.clear()
    done = _settle(handle, seconds=2.0)
    assert done < 20, "the dispatcher died before sending every shard"
    resumed = sm.resume(handle.run_id, backend="cloud")
    resumed.wait(timeout=120)
    _check(resumed, spec, tmp_path)


@pytest.mark.cloud
def test_client_disconnects_and_reattaches_by_run_id(cloud_env: Emulation, tmp_path: Path) -> None:
    for shard in range(10):
        cloud_env.slow(shard, 200)
    # Another process submits and exits at once: the run goes on without it.
    code = (
        "import json, sys, sweep_magic as sm; "
        "print(sm.run(json.loads(sys.argv[1]), backend='cloud').run_id)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(FAILING)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    handle = sm.open_run(run_id, cloud=True)
    assert isinstance(handle, CloudRun)
    handle.wait(timeout=120)
    _check(handle, FAILING, tmp_path)


@pytest.mark.cloud
def test_cancelled_cloud_run_resumes_to_the_clean_result(
    cloud_env: Emulation, tmp_path: Path
) -> None:
    spec = {**FAILING, "shard_size": 1}  # 20 shards in 10 invocations, 4 at a time
    for shard in range(20):
        cloud_env.slow(shard, 500)
    handle = sm.run(spec, backend="cloud")
    _until("two shards", lambda: handle.status().shards_done >= 2)
    handle.cancel()
    settled = _settle(handle, seconds=1.5)
    assert handle.status().state == "cancelled"
    assert settled < 20
    with pytest.raises(sm.errors.RunCancelledError):
        handle.wait(timeout=5)
    cloud_env.clear()
    resumed = sm.resume(handle.run_id, backend="cloud")
    resumed.wait(timeout=120)
    _check(resumed, spec, tmp_path)
    client = CloudClient.from_config()
    assert client.request("GET", f"/runs/{handle.run_id}")["cancel_requested"] is False


# -- local backend faults ----------------------------------------------------------------------

# 400k points x 2 replicates of instant rows in 800 shards: a few seconds on one thread.
BIG_FAILING = {
    **FAILING,
    "shard_size": 500,
    "params": {"fail_rate": {"linspace": [0.1, 0.4, 400_000]}},
}


def _markers(root: Path) -> int:
    return len(list(root.glob("runs/*/shards/*.json")))


def _spec_file(tmp_path: Path, spec: dict[str, Any]) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return path


def test_local_process_killed_then_resumed(
    tmp_path: Path, sweep_cmd: list[str], root: Path
) -> None:
    killed = tmp_path / "killed"
    proc = subprocess.Popen(
        [*sweep_cmd, "run", str(_spec_file(tmp_path, BIG_FAILING)), "--root", str(killed)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _until("50 shards", lambda: _markers(killed) >= 50)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    (run_dir,) = (killed / "runs").iterdir()
    assert 50 <= sm.open_run(run_dir.name, root=killed).status().shards_done < 800
    resumed = sm.resume(run_dir.name, root=killed).wait()
    _check(resumed, BIG_FAILING, tmp_path)


def test_local_run_executed_twice_at_once_is_written_once(
    tmp_path: Path, sweep_cmd: list[str], root: Path
) -> None:
    handle = sm.run(BIG_FAILING, root=root, threads=1)
    handle.cancel()  # stop this process's execution: two others will race on the run
    with pytest.raises(sm.RunCancelledError):
        handle.wait()
    env = {**os.environ, "SWEEP_ROOT": str(root)}
    racers = [
        subprocess.Popen(
            [*sweep_cmd, "resume", handle.run_id, "--threads", "1"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        for _ in range(2)
    ]
    for racer in racers:
        assert racer.wait(timeout=300) == 0, racer.stderr.read() if racer.stderr else ""
    _check(sm.open_run(handle.run_id, root=root), BIG_FAILING, tmp_path)


def test_local_cancel_then_resume(tmp_path: Path, sweep_cmd: list[str], root: Path) -> None:
    handle = sm.run(BIG_FAILING, root=root, threads=1)
    _until("20 shards", lambda: _markers(root) >= 20)
    out = subprocess.run(
        [*sweep_cmd, "cancel", handle.run_id],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SWEEP_ROOT": str(root)},
    )
    assert out.returncode == 0, out.stderr
    with pytest.raises(sm.RunCancelledError):
        handle.wait(timeout=60)
    assert handle.status().shards_done < 800
    resumed = sm.resume(handle.run_id, root=root).wait()
    _check(resumed, BIG_FAILING, tmp_path)
