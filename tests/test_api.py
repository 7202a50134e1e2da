"""The Python API as an analyst uses it: specs, runs, DataFrames, errors."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import black_scholes_call

import sweep_magic as sm

GBM = {
    "experiment": "gbm_option",
    "seed": 5,
    "replicates": 3,
    "params": {
        "s0": 100,
        "strike": {"linspace": [90, 110, 3]},
        "sigma": [0.15, 0.3],
        "paths": 20_000,
    },
}


def test_spec_from_mapping_and_files_in_every_format_is_the_same_content(tmp_path: Path) -> None:
    spec = sm.Spec(GBM)
    (tmp_path / "s.json").write_text(json.dumps(GBM))
    (tmp_path / "s.yaml").write_text(
        "experiment: gbm_option\nseed: 5\nreplicates: 3\nparams:\n  s0: 100\n"
        "  strike: {linspace: [90, 110, 3]}\n  sigma: [0.15, 0.3]\n  paths: 20000\n"
    )
    (tmp_path / "s.toml").write_text(
        'experiment = "gbm_option"\nseed = 5\nreplicates = 3\n[params]\ns0 = 100\n'
        "strike = { linspace = [90, 110, 3] }\nsigma = [0.15, 0.3]\npaths = 20000\n"
    )
    for name in ("s.json", "s.yaml", "s.toml"):
        assert sm.Spec.from_file(tmp_path / name) == spec, name
    assert (spec.points, spec.rows) == (6, 18)
    assert spec.normalized["params"]["antithetic"] is True
    assert "points=6" in repr(spec)


def test_run_returns_a_handle_and_a_typed_frame_of_every_point_and_replicate(root: Path) -> None:
    run = sm.run(sm.Spec(GBM))
    assert run.run_id
    assert run.root == root.resolve()
    df = run.wait().to_pandas()
    assert len(df) == 18
    assert list(df[["point", "replicate"]].itertuples(index=False, name=None)) == [
        (p, r) for p in range(6) for r in range(3)
    ]
    assert df["paths"].dtype == "int64"
    assert df["antithetic"].dtype == "bool"
    assert df["price"].dtype == "float64"
    assert df["seed"].nunique() == 18
    for row in df.itertuples():
        exact = black_scholes_call(row.s0, row.strike, row.rate, row.sigma, row.maturity)
        assert abs(row.price - exact) < 5 * row.std_error
    assert run.failures().empty
    assert (root / "runs" / run.run_id / "manifest.json").is_file()


def test_results_do_not_depend_on_threads_or_shard_size(root: Path) -> None:
    def frame(threads: int, shard_size: int) -> pd.DataFrame:
        spec = sm.Spec({**GBM, "shard_size": shard_size})
        df = sm.run(spec, threads=threads).wait().to_pandas()
        return df.drop(columns=["duration_us"])

    pd.testing.assert_frame_equal(frame(1, 1), frame(2, 4))


def test_same_spec_reproduces_different_seed_does_not(root: Path) -> None:
    a = sm.run(GBM).wait().to_pandas()["price"]
    b = sm.run(GBM).wait().to_pandas()["price"]
    c = sm.run({**GBM, "seed": 6}).wait().to_pandas()["price"]
    assert a.tolist() == b.tolist()
    assert a.tolist() != c.tolist()


def test_failures_are_captured_and_every_row_lands_exactly_once(root: Path) -> None:
    spec = {
        "experiment": "diag_fail",
        "replicates": 4,
        "params": {"mode": ["error", "panic", "nan"], "fail_rate": [0.0, 0.5, 1.0]},
    }
    run = sm.run(spec).wait()
    ok, failed = run.to_pandas(), run.failures()
    assert len(ok) + len(failed) == 36
    assert set(zip(ok.point, ok.replicate, strict=True)).isdisjoint(
        zip(failed.point, failed.replicate, strict=True)
    )
    assert (ok["draw"] >= ok["fail_rate"]).all()
    kinds = failed.groupby("mode")["error_kind"].unique().map(list).to_dict()
    assert kinds == {"error": ["requested"], "nan": ["non_finite"], "panic": ["panic"]}
    assert failed.loc[failed.error_kind == "panic", "message"].str.contains("panic").all()
    assert not failed["fail_rate"].eq(0.0).any()
    status = run.status()
    assert (status.rows_ok, status.rows_failed) == (len(ok), len(failed))
    assert status.state == "complete"


def test_root_comes_from_argument_then_env_then_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {"experiment": "diag_sleep"}
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWEEP_ROOT", raising=False)
    assert sm.run(spec).wait().root == tmp_path / "sweep-data"
    monkeypatch.setenv("SWEEP_ROOT", str(tmp_path / "env-root"))
    assert sm.run(spec).wait().root == tmp_path / "env-root"
    assert sm.run(spec, root=tmp_path / "arg").wait().root == tmp_path / "arg"
    assert (tmp_path / "arg" / "results" / "diag_sleep").is_dir()


def test_the_gil_is_released_while_shards_run(root: Path) -> None:
    ticks = 0
    stop = threading.Event()

    def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.005)

    thread = threading.Thread(target=ticker)
    thread.start()
    # About one second of kernel time on one thread.
    run = sm.run(
        {"experiment": "diag_sleep", "replicates": 100, "params": {"micros": 10_000}}, threads=1
    )
    run.wait()
    stop.set()
    thread.join()
    # Had the engine held the GIL, the ticker would have been frozen for the whole second.
    assert ticks > 50, ticks


def test_bad_specs_raise_spec_error_with_path_and_create_nothing(root: Path) -> None:
    with pytest.raises(sm.SpecError) as info:
        sm.run({"experiment": "gbm_option", "params": {"s0": 1, "strike": 1, "sigma": "abc"}})
    assert info.value.path == "params.sigma"
    assert str(info.value) == 'params.sigma: expected a number or list, got "abc"'
    with pytest.raises(sm.SpecError, match="over the limit of 10 rows"):
        sm.Spec({"experiment": "diag_sleep", "replicates": 11}, max_rows=10)
    with pytest.raises(sm.SpecError, match=r"params\.nope: unknown parameter"):
        sm.Spec({"experiment": "diag_sleep", "params": {"nope": 1}})
    assert isinstance(info.value, sm.SweepError)
    assert not root.exists()


def test_point_limit_from_the_environment(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWEEP_MAX_POINTS", "5")
    with pytest.raises(sm.SpecError, match="over the limit of 5 rows"):
        sm.run({"experiment": "diag_sleep", "params": {"micros": [0, 1, 2, 3, 4, 5]}})
    assert not root.exists()


def test_unknown_backend_is_a_clear_error(root: Path) -> None:
    with pytest.raises(
        sm.BackendError, match=r"unknown backend 'nope'; available: cloud, local, ray"
    ):
        sm.run({"experiment": "diag_sleep"}, backend="nope")


def test_experiments_registry(root: Path) -> None:
    names = [e.name for e in sm.experiments()]
    assert "gbm_option" in names
    gbm = sm.get_experiment("gbm_option")
    assert {m.name for m in gbm.metrics} == {"price", "std_error"}
    assert next(p for p in gbm.params if p.name == "paths").type == "int"
    with pytest.raises(KeyError, match="available"):
        sm.get_experiment("nope")


def test_open_run_reads_a_finished_run(root: Path) -> None:
    run = sm.run(GBM).wait()
    again = sm.open_run(run.run_id)
    pd.testing.assert_frame_equal(again.to_pandas(), run.to_pandas())
    with pytest.raises(sm.RunNotFoundError):
        sm.open_run("20000101-000000-00000000")
    with pytest.raises(sm.SpecError, match="run_id"):
        sm.open_run("../etc")


def test_spec_size_limit_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SWEEP_MAX_SPEC_BYTES", "200")
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"experiment": "diag_sleep", "params": {"micros": list(range(100))}}))
    with pytest.raises(sm.SpecError, match="over the limit of 200 bytes"):
        sm.Spec.from_file(big)
    with pytest.raises(sm.SpecError, match="over the limit of 200 bytes"):
        sm.Spec({"experiment": "diag_sleep", "params": {"micros": list(range(100))}})


def test_nan_in_a_python_spec_names_its_path() -> None:
    with pytest.raises(sm.SpecError) as info:
        sm.Spec({"experiment": "gbm_option", "params": {"s0": 1, "strike": [1, float("nan")]}})
    assert info.value.path == "params.strike[1]"


def test_unwritable_root_is_a_storage_error_and_writes_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(sm.StorageError, match="runs/"):
        sm.run({"experiment": "diag_sleep"}, root=blocker / "root")
    assert blocker.read_text() == "not a folder"
    assert not hasattr(sm, "RunNotFound")
