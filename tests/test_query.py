"""Athena-dialect SQL over local results, summaries over replicates, and plots."""

from __future__ import annotations

import io
import json
import math
import subprocess
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

import sweep_magic as sm

matplotlib.use("Agg")

SPEC = {
    "experiment": "gbm_option",
    "seed": 1,
    "replicates": 4,
    "params": {"s0": 100, "strike": [90, 100, 110], "sigma": [0.2, 0.4], "paths": 4000},
}


@pytest.fixture
def two_runs(root: Path) -> tuple[sm.Run, sm.Run]:
    a = sm.run(SPEC).wait()
    b = sm.run({"experiment": "diag_fail", "replicates": 10, "params": {"fail_rate": 0.5}}).wait()
    return a, b


def test_trino_sql_runs_on_the_local_catalog(two_runs: tuple[sm.Run, sm.Run]) -> None:
    a, b = two_runs
    df = sm.query(
        "SELECT run_id, strike, sigma, count(*) AS n, avg(price) AS mean_price, "
        "approx_percentile(price, 0.5) AS median_price "
        f"FROM results_gbm_option WHERE run_id = '{a.run_id}' "
        "GROUP BY 1, 2, 3 ORDER BY strike, sigma"
    )
    assert len(df) == 6
    assert (df["n"] == 4).all()
    frame = a.to_pandas()
    expected = frame.groupby(["strike", "sigma"])["price"].mean().reset_index()
    assert df["mean_price"].tolist() == pytest.approx(expected["price"].tolist())

    runs = sm.query(
        "SELECT run_id, experiment, state, rows_ok, rows_failed FROM runs ORDER BY run_id"
    )
    assert runs["run_id"].tolist() == sorted([a.run_id, b.run_id])
    failures = sm.query(
        "SELECT error_kind, count(*) AS n FROM failures_diag_fail GROUP BY error_kind"
    )
    ok = sm.query("SELECT count(*) AS n FROM results_diag_fail")
    assert int(failures["n"].sum()) + int(ok["n"].iloc[0]) == 10
    # A known experiment with no runs yet is an empty table, not an error.
    assert sm.query("SELECT count(*) AS n FROM results_sir")["n"].iloc[0] == 0
    # run_id is a string partition column, as in Glue.
    assert (
        sm.query("SELECT typeof(run_id) AS t FROM results_gbm_option LIMIT 1")["t"][0] == "VARCHAR"
    )


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC price FROM results_gbm_option", "does not parse at line 1, column"),
        ("SELECT * FROM results_nope", "unknown table 'results_nope'; available:"),
        ("SELECT nope FROM results_gbm_option", 'column "nope" not found'),
        ("SELECT 1; SELECT 2", "expected one SQL statement"),
    ],
)
def test_bad_sql_is_a_clear_error(root: Path, sql: str, message: str) -> None:
    with pytest.raises(sm.QueryError, match=message):
        sm.query(sql)


def test_summary_aggregates_replicates_with_confidence_intervals(root: Path) -> None:
    run = sm.run(SPEC).wait()
    summary = run.summary()
    assert list(summary[["strike", "sigma"]].itertuples(index=False, name=None)) == [
        (k, s) for k in (90.0, 100.0, 110.0) for s in (0.2, 0.4)
    ]
    frame = run.to_pandas()
    group = frame[(frame.strike == 100.0) & (frame.sigma == 0.4)]["price"]
    row = summary[(summary.strike == 100.0) & (summary.sigma == 0.4)].iloc[0]
    assert row["price_count"] == 4
    assert row["price_mean"] == pytest.approx(group.mean())
    assert row["price_std"] == pytest.approx(group.std())
    # t(0.975, 3) = 3.182446 (scipy.stats.t.ppf)
    assert row["price_ci95"] == pytest.approx(3.182446305 * group.std() / math.sqrt(4))
    by_strike = run.summary(by=["strike"], metrics=["std_error"])
    assert list(by_strike.columns) == [
        "strike",
        "std_error_mean",
        "std_error_std",
        "std_error_count",
        "std_error_ci95",
    ]
    assert (by_strike["std_error_count"] == 8).all()


def test_plot_draws_a_line_per_hue_and_a_heatmap(root: Path) -> None:
    run = sm.run(SPEC).wait()
    ax = run.plot(x="strike", y="price", hue="sigma")
    assert len(ax.get_legend().get_texts()) == 2
    assert ax.get_xlabel() == "strike"
    assert ax.get_ylabel() == "price"
    heat = run.plot(x="strike", y="price", hue="sigma", kind="heatmap")
    assert heat.images[0].get_array().shape == (2, 3)
    with pytest.raises(sm.SweepError, match="unknown column"):
        run.plot(x="nope", y="price")


def test_cli_query_formats(root: Path, sweep_cmd: list[str], clean_env: dict[str, str]) -> None:
    run = sm.run(SPEC).wait()
    sql = "SELECT strike, count(*) AS n FROM results_gbm_option GROUP BY strike ORDER BY strike"
    out = {
        fmt: subprocess.run(
            [*sweep_cmd, "query", sql, "--format", fmt],
            capture_output=True,
            text=True,
            env=clean_env,
            timeout=60,
        )
        for fmt in ("table", "csv", "json")
    }
    assert all(o.returncode == 0 for o in out.values()), {k: o.stderr for k, o in out.items()}
    assert pd.read_csv(io.StringIO(out["csv"].stdout))["n"].tolist() == [8, 8, 8]
    assert [r["strike"] for r in json.loads(out["json"].stdout)] == [90.0, 100.0, 110.0]
    assert "strike" in out["table"].stdout
    bad = subprocess.run(
        [*sweep_cmd, "query", "SELEC 1"], capture_output=True, text=True, env=clean_env, timeout=60
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: SQL does not parse")
    assert run.run_id
