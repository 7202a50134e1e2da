"""The `sweep` command as a user runs it: real processes, real files, read back by pyarrow
and DuckDB."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import black_scholes_call

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "gbm_demo.yaml"


def sweep(
    cmd: list[str], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=120)


def test_experiments_lists_the_registry_as_json(sweep_cmd: list[str]) -> None:
    out = sweep(sweep_cmd, "experiments", "--json")
    assert out.returncode == 0, out.stderr
    registry = {e["name"]: e for e in json.loads(out.stdout)}
    gbm = registry["gbm_option"]
    assert [p["name"] for p in gbm["params"]] == [
        "s0",
        "strike",
        "rate",
        "sigma",
        "maturity",
        "paths",
        "antithetic",
    ]
    assert [m["name"] for m in gbm["metrics"]] == ["price", "std_error"]
    antithetic = gbm["params"][-1]
    assert antithetic["type"] == "bool"
    assert antithetic["default"] is True
    sigma = gbm["params"][3]
    assert sigma["required"]
    assert sigma["bounds"] == "(0, 5]"


def test_validate_reports_the_plan(sweep_cmd: list[str]) -> None:
    out = sweep(sweep_cmd, "validate", str(DEMO), "--json")
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert (info["points"], info["rows"]) == (15, 30)
    assert info["spec"]["params"]["antithetic"] is True


def test_run_writes_parquet_that_pyarrow_and_duckdb_read(
    sweep_cmd: list[str], tmp_path: Path
) -> None:
    root = tmp_path / "out"
    out = sweep(sweep_cmd, "run", str(DEMO), "--root", str(root), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["root"] == str(root)
    assert (summary["points"], summary["rows_ok"], summary["rows_failed"]) == (15, 30, 0)
    run_id = summary["run_id"]
    part_dir = root / "results" / "gbm_option" / f"run_id={run_id}"
    assert summary["results"] == str(part_dir)
    assert (root / "runs" / run_id / "manifest.json").is_file()
    assert len(list((root / "runs" / run_id / "shards").glob("*.json"))) == summary["shards"]

    table = pq.read_table(part_dir)
    assert table.num_rows == 30
    types = {f.name: str(f.type) for f in table.schema}
    assert types == {
        "point": "int64",
        "replicate": "int64",
        "s0": "double",
        "strike": "double",
        "rate": "double",
        "sigma": "double",
        "maturity": "double",
        "paths": "int64",
        "antithetic": "bool",
        "price": "double",
        "std_error": "double",
        "seed": "int64",
        "duration_us": "int64",
    }

    glob = str(root / "results" / "gbm_option" / "*" / "*.parquet")
    rows = duckdb.execute(
        "SELECT run_id, point, replicate, s0, strike, rate, sigma, maturity, price, std_error "
        "FROM read_parquet(?, hive_partitioning = true) ORDER BY point, replicate",
        [glob],
    ).fetchall()
    assert len(rows) == 30
    assert {r[0] for r in rows} == {run_id}
    assert [(r[1], r[2]) for r in rows] == [(p, k) for p in range(15) for k in range(2)]
    for _, _, _, s0, strike, rate, sigma, maturity, price, se in rows:
        exact = black_scholes_call(s0, strike, rate, sigma, maturity)
        assert abs(price - exact) < 5 * se, (strike, sigma, price, exact, se)


def test_plain_run_prints_a_table_and_where_the_files_are(
    sweep_cmd: list[str], tmp_path: Path
) -> None:
    out = sweep(sweep_cmd, "run", str(DEMO), "--root", str(tmp_path / "r"))
    assert out.returncode == 0, out.stderr
    assert "strike" in out.stdout
    assert "price" in out.stdout
    assert f"results:  {tmp_path / 'r' / 'results' / 'gbm_option'}" in out.stdout
    assert "rows ok: 30, rows failed: 0" in out.stdout


BAD_SPECS = {
    "unknown top-level field": ("experiment: gbm_option\nparms: {}\n", "parms: unknown field"),
    "unknown parameter": (
        "experiment: gbm_option\nparams: {s0: 1, strike: 1, sigma: 0.2, volatility: 1}\n",
        "params.volatility: unknown parameter for gbm_option",
    ),
    "missing required parameter": (
        "experiment: gbm_option\nparams: {s0: 1, strike: 1}\n",
        "params.sigma: required parameter missing",
    ),
    "wrong type": (
        "experiment: gbm_option\nparams: {s0: 1, strike: 1, sigma: abc}\n",
        'params.sigma: expected a number or list, got "abc"',
    ),
    "linspace with n < 1": (
        "experiment: gbm_option\nparams: {s0: 1, strike: {linspace: [1, 2, 0]}, sigma: 0.2}\n",
        "params.strike.linspace[2]: n must be at least 1, got 0",
    ),
    "out of bounds": (
        "experiment: gbm_option\nparams: {s0: 1, strike: 1, sigma: 9}\n",
        "params.sigma: 9 is outside the allowed range (0, 5]",
    ),
    "over the point limit": (
        "experiment: gbm_option\nparams:\n  s0: {linspace: [1, 2, 100000]}\n"
        "  strike: {linspace: [1, 2, 100000]}\n  sigma: {linspace: [0.1, 1, 100000]}\n",
        "params: the sweep has 1000000000000000 points x 1 replicates, over the limit",
    ),
    "not YAML": ("experiment: [gbm_option\n", "not valid YAML"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_bad_specs_exit_2_with_one_line_and_write_nothing(
    case: str, sweep_cmd: list[str], tmp_path: Path
) -> None:
    text, expected = BAD_SPECS[case]
    spec = tmp_path / "bad.yaml"
    spec.write_text(text)
    root = tmp_path / "never-created"
    out = sweep(sweep_cmd, "run", str(spec), "--root", str(root))
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {expected}"), out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    assert "Traceback" not in out.stderr
    assert not root.exists()


def test_ctrl_c_stops_the_run_promptly_and_keeps_only_complete_shards(
    sweep_cmd: list[str], tmp_path: Path
) -> None:
    # 4 shards (one point of 100 replicates x 20 ms each) on 2 threads: the first two shards
    # finish after about 2 s, the last two would take 2 s more if nothing stopped them.
    spec = tmp_path / "slow.yaml"
    spec.write_text(
        "experiment: diag_sleep\nshard_size: 1\nparams:\n"
        "  micros: [20000, 20001, 20002, 20003]\nseed: 3\nreplicates: 100\n"
    )
    root = tmp_path / "r"
    proc = subprocess.Popen(
        [*sweep_cmd, "run", str(spec), "--root", str(root), "--threads", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that starts the test suite in the background ignores SIGINT for its
        # children, and Python then installs no Ctrl-C handler: give the child a terminal's.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    markers: list[Path] = []
    while time.monotonic() < deadline and not markers:
        markers = list(root.glob("runs/*/shards/*.json"))
        time.sleep(0.05)
    assert markers, "no shard finished"
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=30)
    stopped_after = time.monotonic() - sent
    assert proc.returncode == 130, err
    assert "interrupted:" in err
    assert "Traceback" not in err
    # Cancellation is checked before every row (20 ms here), not only between shards.
    assert stopped_after < 1.5, stopped_after
    (run_dir,) = root.glob("runs/*")
    done = sorted(p.stem for p in (run_dir / "shards").glob("*.json"))
    assert 0 < len(done) < 4
    parts = sorted(
        p.name.removeprefix("part-").removesuffix(".parquet")
        for p in root.glob("results/diag_sleep/*/*.parquet")
    )
    assert parts == done
    assert not list(root.rglob(".*tmp*"))


def test_kernel_panics_are_recorded_not_printed(sweep_cmd: list[str], tmp_path: Path) -> None:
    spec = tmp_path / "panics.yaml"
    spec.write_text(
        "experiment: diag_fail\nreplicates: 20\nparams: {fail_rate: 0.5, mode: panic}\n"
    )
    out = sweep(sweep_cmd, "run", str(spec), "--root", str(tmp_path / "r"), "--json")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["rows_failed"] > 0
    assert "panicked" not in out.stderr
