"""The ray backend: the same Rust kernel in Ray tasks, the same bytes as the local backend."""

from __future__ import annotations

import builtins
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import sweep_magic as sm

pytestmark = pytest.mark.ray

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def ray_instance() -> Iterator[None]:
    # One local Ray for the whole module: starting one costs seconds.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _rows(run: sm.Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    return (
        run.to_pandas().drop(columns="duration_us"),
        run.failures().drop(columns=["duration_us", "message"]),
    )


@pytest.mark.parametrize(
    "spec",
    [
        {
            "experiment": "gbm_option",
            "seed": 3,
            "replicates": 3,
            "shard_size": 2,
            "params": {"s0": 100, "strike": {"linspace": [80, 120, 9]}, "sigma": [0.2, 0.3]},
        },
        {
            "experiment": "diag_fail",
            "replicates": 5,
            "shard_size": 3,
            "params": {"fail_rate": [0.0, 0.3, 1.0]},
            "zip": [{"mode": ["error", "nan", "panic", "error"]}],
        },
    ],
)
def test_ray_results_are_identical_to_local(root: Path, spec: dict[str, Any]) -> None:
    on_ray = sm.run(spec, backend="ray").wait()
    local = sm.run(spec, backend="local").wait()
    for a, b in zip(_rows(on_ray), _rows(local), strict=True):
        pd.testing.assert_frame_equal(a, b)
    assert on_ray.status().state == "complete"
    # The same files: one results part per shard that had successes, in the same layout.
    names = sorted(p.name for p in on_ray.results_dir.glob("part-*.parquet"))
    assert names == sorted(p.name for p in local.results_dir.glob("part-*.parquet"))


def test_a_run_started_locally_can_be_resumed_on_ray(root: Path) -> None:
    spec = {
        "experiment": "diag_sleep",
        "replicates": 20,
        "shard_size": 1,
        "params": {"micros": {"range": [1000, 1040, 1]}},
    }
    run = sm.run(spec, backend="local", threads=1)
    run.cancel()
    with pytest.raises(sm.RunCancelledError):
        run.wait()
    assert run.status().state == "cancelled"
    resumed = sm.resume(run.run_id, backend="ray")
    resumed.wait(progress=True)
    assert resumed.status().state == "complete"
    clean = sm.run(spec).wait()
    pd.testing.assert_frame_equal(_rows(resumed)[0], _rows(clean)[0])


def test_missing_ray_names_the_extra(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_ray(name: str, *args: Any, **kwargs: Any) -> Any:
        level = args[3] if len(args) > 3 else kwargs.get("level", 0)
        if name == "ray" and level == 0:
            raise ImportError("No module named 'ray'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(sm.BackendError, match=r"install the `\[ray\]` extra"):
        sm.run({"experiment": "diag_sleep"}, backend="ray")


def test_cli_runs_on_ray(sweep_cmd: list[str], clean_env: dict[str, str], tmp_path: Path) -> None:
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"experiment": "diag_sleep", "replicates": 7}))
    out = subprocess.run(
        [*sweep_cmd, "run", str(spec), "--backend", "ray", "--json"],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["rows_ok"] == 7


def test_python_kernels_run_on_ray_workers(root: Path) -> None:
    # Defined inside the test so Ray pickles it by value into its worker processes.
    @sm.experiment(params={"x": float}, metrics={"y": float, "pid": int})
    def py_on_ray(x: float, seed: int) -> dict[str, Any]:
        import os
        import random

        return {"y": x + random.Random(seed).random(), "pid": os.getpid()}

    spec = {
        "experiment": "py_on_ray",
        "replicates": 4,
        "shard_size": 2,
        "params": {"x": {"linspace": [0, 1, 8]}},
    }
    on_ray = sm.run(spec, backend="ray").wait().to_pandas()
    local = sm.run(spec, backend="local").wait().to_pandas()
    pd.testing.assert_frame_equal(
        on_ray.drop(columns=["duration_us", "pid"]), local.drop(columns=["duration_us", "pid"])
    )
    import os

    assert os.getpid() not in set(on_ray["pid"])


def test_failed_rows_are_retried_on_ray_into_the_same_run(root: Path, tmp_path: Path) -> None:
    # The kernel's dependency is "down" while a file exists; Ray workers see the same file.
    @sm.experiment(params={"x": float, "outage": str}, metrics={"y": float})
    def py_flaky_on_ray(x: float, outage: str, seed: int) -> dict[str, Any]:
        import os

        if os.path.exists(outage):
            raise TimeoutError("the dependency did not answer")
        return {"y": x + (seed % 1000) / 1000}

    flag = tmp_path / "outage"
    spec = {
        "experiment": "py_flaky_on_ray",
        "replicates": 3,
        "shard_size": 2,
        "params": {"x": {"linspace": [0, 1, 5]}, "outage": str(flag)},
    }
    clean = sm.run(spec, backend="local", root=root / "clean").wait()
    flag.write_text("")
    run = sm.run(spec, backend="ray").wait()
    assert (run.status().rows_ok, run.status().rows_failed) == (0, 15)
    flag.unlink()
    retried = run.retry_failed("TimeoutError", backend="ray").wait()
    assert retried.run_id == run.run_id
    status = retried.status()
    assert (status.state, status.rows_ok, status.rows_failed) == ("complete", 15, 0)
    columns = ["point", "replicate", "x", "y", "seed"]
    pd.testing.assert_frame_equal(
        run.to_pandas()[columns].sort_values(["point", "replicate"]).reset_index(drop=True),
        clean.to_pandas()[columns].sort_values(["point", "replicate"]).reset_index(drop=True),
    )
    assert run.failures().empty
    (record,) = run.retries()
    assert (record["attempt"], record["rows_retried"], record["rows_recovered"]) == (1, 15, 15)
