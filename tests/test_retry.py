"""Retrying failed rows: after a transient outage the failed rows are computed again into
the same run, the ones that now succeed move to results with the rows a clean run has, the
rest stay in failures, and every attempt is recorded."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import sweep_magic as sm

#: Set per test: while this file exists, the kernel's dependency is "down".
OUTAGE: Path | None = None


@sm.experiment(
    name="flaky_dependency",
    params={"x": sm.param(float, min=-10, max=10)},
    metrics={"y": float},
)
def flaky_dependency(x: float, seed: int) -> dict[str, float]:
    if x < 0:
        raise ValueError(f"x = {x} is outside the model")  # fails the same way every time
    if OUTAGE is not None and OUTAGE.exists():
        raise TimeoutError("the dependency did not answer")
    return {"y": x * 2 + (seed % 1000) / 1000}


SPEC = {
    "experiment": "flaky_dependency",
    "replicates": 2,
    "shard_size": 2,
    "params": {"x": [-1, 1, 2, 3, 4]},
}


def _key(frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["point", "replicate", "x", "y", "seed"]
    return frame[columns].sort_values(["point", "replicate"]).reset_index(drop=True)


@pytest.fixture
def outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    flag = tmp_path / "outage"
    monkeypatch.setattr(f"{__name__}.OUTAGE", flag)
    return flag


def test_retry_moves_recovered_rows_into_results(root: Path, outage: Path) -> None:
    clean = sm.run(SPEC, root=root / "clean").wait()
    outage.write_text("")
    run = sm.run(SPEC, root=root).wait()
    status = run.status()
    assert (status.state, status.rows_ok, status.rows_failed) == ("complete", 0, 10)
    kinds = run.failures()["error_kind"].value_counts().to_dict()
    assert set(kinds) == {"ValueError", "TimeoutError"}, kinds

    # Still down: the retry fails again and changes nothing.
    again = sm.retry_failed(run.run_id, "TimeoutError", root=root).wait()
    assert (again.status().rows_ok, again.status().rows_failed) == (0, 10)

    outage.unlink()
    retried = run.retry_failed("TimeoutError").wait()
    assert retried.run_id == run.run_id
    status = retried.status()
    assert (status.state, status.rows_ok, status.rows_failed) == ("complete", 8, 2)
    pd.testing.assert_frame_equal(_key(run.to_pandas()), _key(clean.to_pandas()))
    left = run.failures()
    assert left["error_kind"].tolist() == ["ValueError", "ValueError"]
    assert set(left["point"]) == {0}

    # Retrying everything: the deterministic failure fails again, the same way.
    sm.retry_failed(run.run_id, root=root).wait()
    assert run.failures()["error_kind"].tolist() == ["ValueError", "ValueError"]

    records = run.retries()
    assert [r["attempt"] for r in records] == [1, 2, 3]
    assert [r["error_kinds"] for r in records] == [["TimeoutError"], ["TimeoutError"], []]
    assert [(r["rows_retried"], r["rows_recovered"]) for r in records] == [
        (8, 0),
        (8, 8),
        (2, 0),
    ]
    assert all(r["finished_at"] for r in records)
    # Independent readers see each row once.
    import duckdb

    counted = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{run.results_dir}/*.parquet')"
    ).fetchall()
    assert counted == [(8,)]


def test_retrying_a_run_without_failures_does_nothing(root: Path) -> None:
    run = sm.run({**SPEC, "params": {"x": [1, 2]}}, root=root).wait()
    handle = run.retry_failed().wait()
    assert (handle.status().rows_ok, handle.status().rows_failed) == (4, 0)
    assert [(r["shards"], r["rows_retried"]) for r in run.retries()] == [(0, 0)]


def test_retry_of_an_unknown_run_names_it(root: Path) -> None:
    with pytest.raises(sm.errors.RunNotFoundError, match="nope"):
        sm.retry_failed("nope", root=root)
