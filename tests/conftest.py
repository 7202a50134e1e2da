"""Shared fixtures: a fresh result root per test and the installed `sweep` command."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A result root that does not exist yet; also set as SWEEP_ROOT."""
    r = tmp_path / "sweep-root"
    monkeypatch.setenv("SWEEP_ROOT", str(r))
    return r


@pytest.fixture(scope="session")
def sweep_cmd() -> list[str]:
    """The `sweep` console script installed beside this interpreter."""
    script = Path(sys.executable).parent / "sweep"
    assert script.exists(), f"{script} missing: is sweep_magic installed in this venv?"
    return [str(script)]


@pytest.fixture
def clean_env(root: Path) -> dict[str, str]:
    """Environment for subprocesses: this one, with SWEEP_ROOT pointing at the test root."""
    env = dict(os.environ)
    env["SWEEP_ROOT"] = str(root)
    return env


def black_scholes_call(s0: float, strike: float, rate: float, sigma: float, t: float) -> float:
    """Closed-form European call price, for checking the kernel from Python."""

    def cdf(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))

    vol = sigma * math.sqrt(t)
    d1 = (math.log(s0 / strike) + (rate + 0.5 * sigma * sigma) * t) / vol
    return s0 * cdf(d1) - strike * math.exp(-rate * t) * cdf(d1 - vol)


# -- numbers the reliability, fuzz and load tests report --------------------------------------

_REPORT: list[str] = []


@pytest.fixture(scope="session")
def report() -> Callable[[str], None]:
    """Records a line (examples tried, fuzz cases, latency percentiles) for the summary that
    ends the test output, and for tests/artifacts/reliability.txt."""
    return _REPORT.append


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _REPORT:
        return
    terminalreporter.section("reliability numbers")
    for line in _REPORT:
        terminalreporter.write_line(line)
    artifacts = Path(__file__).parent / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "reliability.txt").write_text("\n".join(_REPORT) + "\n")


@pytest.fixture(scope="session")
def api_emulation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str]]:
    """The local cloud emulation for the API fuzz and load tests, and the id of a completed
    run in it. Afterwards every worker invocation fails (the `fail-all` fault), so runs the
    fuzzers get accepted compute nothing: the orchestrator is what they exercise."""
    from sweep_magic.cloud import CloudClient
    from sweep_magic.local_cloud import LocalCloud

    work = tmp_path_factory.mktemp("api-cloud")
    faults = work / "faults"
    faults.mkdir()
    cloud = LocalCloud(
        concurrency=4,
        workdir=work,
        features=("fault-injection",),
        env={"SWEEP_FAULT_DIR": str(faults)},
    )
    with cloud:
        env = cloud.client_env()
        client = CloudClient(env["SWEEP_API_URL"], env["SWEEP_REGION"])
        spec = {"experiment": "diag_sleep", "shard_size": 1, "params": {"micros": [0, 1, 2, 3]}}
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # credentials for signing
        try:
            run_id = client.request("POST", "/runs", json.dumps(spec).encode())["run_id"]
            deadline = time.monotonic() + 120
            while client.request("GET", f"/runs/{run_id}")["shards_done"] < 4:
                assert time.monotonic() < deadline, "the load test's run did not complete"
                time.sleep(0.2)
        finally:
            for key, value in old.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        (faults / "fail-all").touch()
        yield cloud, run_id
