"""Kernels written in Python get the engine's validation, seeding, layout and failure capture."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import sweep_magic as sm


@sm.experiment(
    params={
        "x": sm.param(float, min=-10, max=10, description="input"),
        "n": sm.param(int, default=3, min=1),
        "mode": sm.param(str, default="plain", choices=["plain", "fancy"]),
    },
    metrics={"y": float, "k": int},
)
def py_quadratic(x: float, n: int, mode: str, seed: int) -> dict[str, Any]:
    """A quadratic with seeded noise; fails below x = -5."""
    if x < -5:
        raise ValueError(f"x too small: {x}")
    return {"y": x * x + random.Random(seed).random(), "k": n * (2 if mode == "plain" else 3)}


def test_python_kernel_runs_with_validation_seeds_and_failures(root: Path) -> None:
    spec = {
        "experiment": "py_quadratic",
        "replicates": 2,
        "params": {"x": {"linspace": [-8, 8, 5]}},
    }
    run = sm.run(spec).wait()
    ok, failed = run.to_pandas(), run.failures()
    assert len(ok) == 8
    assert len(failed) == 2
    assert set(failed["error_kind"]) == {"ValueError"}
    assert failed["message"].str.contains("x too small").all()
    assert (ok["k"] == 6).all()
    assert ok["seed"].nunique() == 8
    assert "py_quadratic" in [e.name for e in sm.experiments()]
    with pytest.raises(
        sm.SpecError, match=r"params\.x: 11 is outside the allowed range \[-10, 10\]"
    ):
        sm.Spec({"experiment": "py_quadratic", "params": {"x": 11}})
    with pytest.raises(sm.SpecError, match=r"params\.mode: \"odd\" is not one of"):
        sm.Spec({"experiment": "py_quadratic", "params": {"x": 1, "mode": "odd"}})


def test_python_kernel_results_do_not_depend_on_threads_or_shards(root: Path) -> None:
    base = {
        "experiment": "py_quadratic",
        "seed": 4,
        "replicates": 3,
        "params": {"x": {"range": [0, 5, 0.5]}, "mode": ["plain", "fancy"]},
    }
    a = sm.run({**base, "shard_size": 1}, threads=2).wait().to_pandas()
    b = sm.run({**base, "shard_size": 7}, threads=1).wait().to_pandas()
    pd.testing.assert_frame_equal(a.drop(columns="duration_us"), b.drop(columns="duration_us"))


def test_bad_returns_are_recorded_as_contract_failures(root: Path) -> None:
    @sm.experiment(params={"x": float}, metrics={"y": float})
    def py_broken(x: float, seed: int) -> Any:
        return {"z": x} if x > 0 else "nonsense"

    run = sm.run({"experiment": "py_broken", "params": {"x": [-1, 1]}}).wait()
    failed = run.failures()
    assert list(failed["error_kind"]) == ["kernel_contract", "kernel_contract"]
    assert "no metric" in failed["message"].iloc[1]


def test_registration_errors_are_clear() -> None:
    with pytest.raises(sm.SpecError, match="built-in experiment"):
        sm.experiment(params={"x": float}, metrics={"y": float}, name="gbm_option")(
            lambda x, seed: {}
        )
    with pytest.raises(sm.SpecError, match="unsupported type"):
        sm.experiment(params={"x": list}, metrics={"y": float}, name="py_bad")(lambda x, seed: {})
    with pytest.raises(sm.SpecError, match="reserved column"):
        sm.experiment(params={"seed": int}, metrics={"y": float}, name="py_bad2")(lambda seed: {})


def test_python_kernels_are_refused_by_the_cloud_backend(root: Path) -> None:
    with pytest.raises(sm.BackendError, match="runs compiled Rust kernels only"):
        sm.run({"experiment": "py_quadratic", "params": {"x": 1}}, backend="cloud")
    assert not root.exists()
