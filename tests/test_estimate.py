"""`sm.estimate`: the fleet simulator against hand-computed schedules, the cost model against
hand-computed bills, and the calibration on real small specs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

import sweep_magic as sm
from sweep_magic.estimate import (
    CloudAssumptions,
    LocalAssumptions,
    _estimate_cloud,
    add_cli_parser,
    calibrate,
    cli_main,
    estimate,
    magic_main,
    simulate_fleet,
)

# -- the simulator --------------------------------------------------------------------------


def test_ten_thousand_equal_shards_at_concurrency_one_thousand() -> None:
    # 10,000 jobs of 2 s, at most 1,000 at once: ten waves of 1,000, 20 s. The burst rule
    # (1,000 more every 10 s) never binds because the account limit is 1,000.
    r = simulate_fleet([2.0] * 10_000, concurrency=1000, burst=1000, burst_interval_s=10.0)
    assert r.makespan_s == pytest.approx(20.0)
    assert r.peak_concurrency == 1000
    assert r.busy_s == pytest.approx(20_000.0)


def test_cold_starts_are_paid_once_per_environment() -> None:
    # The first wave starts 1,000 environments (0.5 s each), later waves reuse them:
    # 0.5 + 10 x 2 s, and 1,000 cold starts billed on top of 20,000 s of work.
    r = simulate_fleet([2.0] * 10_000, concurrency=1000, burst=1000, cold_start_s=0.5)
    assert r.makespan_s == pytest.approx(20.5)
    assert r.cold_starts == 1000
    assert r.billed_s == pytest.approx(20_500.0)


def test_burst_scaling_adds_one_thousand_environments_every_ten_seconds() -> None:
    # Account limit 3,000, jobs of 4 s. Limit 1,000 until t=10, 2,000 until t=20, then 3,000:
    # waves start at 0, 4, 8 (1,000 each); at 10 another 1,000; one per finishing wave at
    # 12, 14, 16, 18 (8,000 started); at 20 the last 2,000 start (one wave ended, limit
    # 3,000) and end at 24.
    r = simulate_fleet([4.0] * 10_000, concurrency=3000, burst=1000, burst_interval_s=10.0)
    assert r.makespan_s == pytest.approx(24.0)
    assert r.peak_concurrency == 3000


def test_long_jobs_wait_for_the_scaling_ramp() -> None:
    # 10,000 jobs of 30 s, account limit 10,000; the limit is 1,000 (1 + floor(t / 10)).
    # 1,000 start at t = 0, 10, 20 (3,000 running). At 30 the first 1,000 end and the limit
    # is 4,000: 2,000 start (4,000 running); at 40 one group ends, limit 5,000: 2,000 start
    # (5,000 running); at 50 likewise (6,000 running, 9,000 started); at 60 the last 1,000
    # start and end at 90 s.
    r = simulate_fleet([30.0] * 10_000, concurrency=10_000, burst=1000, burst_interval_s=10.0)
    assert r.makespan_s == pytest.approx(90.0)
    assert r.peak_concurrency == 6000
    # Without the rule, every job starts at once.
    assert simulate_fleet([30.0] * 10_000, concurrency=10_000).makespan_s == pytest.approx(30.0)


def test_list_scheduling_dispatch_and_billing_granularity() -> None:
    # Three 1 s shards on two threads: 2 s. Unequal jobs go to whichever worker frees first.
    assert simulate_fleet([1.0, 1.0, 1.0], concurrency=2).makespan_s == pytest.approx(2.0)
    assert simulate_fleet([3.0, 1.0, 1.0, 1.0], concurrency=2).makespan_s == pytest.approx(3.0)
    # Jobs released every 0.1 s: the fifth starts at 0.4 s.
    assert simulate_fleet(
        [1.0] * 5, concurrency=10, dispatch_interval_s=0.1
    ).makespan_s == pytest.approx(1.4)
    # Billed per started millisecond.
    assert simulate_fleet([1.0004], concurrency=1).billed_s == pytest.approx(1.001)
    assert simulate_fleet([], concurrency=1).makespan_s == 0.0


# -- the cost model -------------------------------------------------------------------------


def test_lambda_bill_for_ten_thousand_one_second_shards() -> None:
    spec = sm.Spec(
        {
            "experiment": "diag_sleep",
            "shard_size": 1,
            "params": {"micros": {"range": [0, 10000, 1]}},
        }
    )
    assert spec.shards == 10_000
    cloud = CloudAssumptions(
        memory_mb=2048,  # over 1,769 MB: a full vCPU, so kernels are not slowed
        cold_start_s=0.0,
        shards_per_invoke=1,
        invoke_overhead_s=0.0,
        shard_write_s=0.0,
        invoke_latency_s=0.0,
        submit_s=0.0,
        puts_per_shard=0,
        gets_per_invoke=0,
    )
    b = _estimate_cloud(spec, [1.0] * 10_000, cloud, LocalAssumptions(row_overhead_s=0.0))
    # 10 waves of 1,000 one-second invocations.
    assert b.wall_s == pytest.approx(10.0)
    # 10,000 s x 2 GB x $0.0000166667 + 10,000 requests x $0.20 / 1M.
    assert b.details["gb_seconds"] == pytest.approx(20_000.0)
    assert b.cost_usd == pytest.approx(20_000 * 0.0000166667 + 0.002)
    arm = _estimate_cloud(
        spec,
        [1.0] * 10_000,
        CloudAssumptions(**{**cloud.__dict__, "architecture": "arm64"}),
        LocalAssumptions(row_overhead_s=0.0),
    )
    assert arm.cost_usd == pytest.approx(20_000 * 0.0000133334 + 0.002)


def test_low_memory_slows_the_kernel_and_bad_settings_are_rejected() -> None:
    half = CloudAssumptions(memory_mb=1769 // 2 + 1)
    assert half.speed == pytest.approx(0.5, rel=1e-2)
    with pytest.raises(sm.SweepError, match="architecture"):
        CloudAssumptions(architecture="sparc")
    with pytest.raises(sm.SweepError, match="memory"):
        CloudAssumptions(memory_mb=64)


# -- calibration and the report -------------------------------------------------------------


def test_calibration_times_a_real_spec_and_leaves_nothing_behind(tmp_path: Path) -> None:
    spec = sm.Spec({"experiment": "diag_sleep", "params": {"micros": {"range": [500, 1500, 5]}}})
    cal = calibrate(spec, budget_s=0.05, root=tmp_path)
    assert 3 <= len(cal.sample_points) <= spec.points
    assert all(0 <= p < spec.points for p in cal.sample_points)
    # diag_sleep busy-waits 500 + 5 k µs at point k: the mean is about 1 ms.
    assert 0.9e-3 < cal.mean_row_s < 3e-3
    assert all(r >= 0.5e-3 for r in cal.row_seconds)
    assert list(tmp_path.iterdir()) == []


def test_estimate_report_names_its_assumptions(tmp_path: Path) -> None:
    spec = {
        "experiment": "gbm_option",
        "replicates": 2,
        "params": {"s0": 100, "strike": {"linspace": [80, 120, 20]}, "sigma": 0.2, "paths": 500},
    }
    est = estimate(spec, cores=2, ray_nodes=3, root=tmp_path, budget_s=0.05)
    text = str(est)
    for needle in (
        "account concurrency 1,000",
        "1,000 environments every 10 s",
        "cold start",
        "$0.0000166667/GB-s",
        "$0.20 per 1M",
        "us-east-1",
        "3 nodes",
        "2 threads",
    ):
        assert needle in text, needle
    assert [b.backend for b in est.backends] == ["local", "ray", "cloud"]
    local = est.backend("local")
    assert local.wall_s >= est.rows * est.calibration.mean_row_s / 2
    payload = json.loads(json.dumps(est.to_dict()))
    assert payload["rows"] == 40
    assert payload["backends"][2]["cost_usd"] > 0
    assert "<table>" in est._repr_html_()


def test_cli_and_magic_entry_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text("experiment: diag_sleep\nparams: {micros: [0, 10, 20]}\n")
    parser = argparse.ArgumentParser(prog="sweep")
    add_cli_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["estimate", str(spec_file), "--json", "--budget", "0.05"])
    assert cli_main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["points"] == 3
    assert [b["backend"] for b in out["backends"]] == ["local", "ray", "cloud"]

    magic_main("--budget 0.05 --memory-mb 3008 --arch arm64", "experiment: diag_sleep\n")
    text = capsys.readouterr().out
    assert "arm64, 3008 MB" in text
    with pytest.raises(sm.SweepError, match="cell or with -f"):
        magic_main(f"-f {spec_file}", "experiment: diag_sleep\n")
    with pytest.raises(sm.SweepError, match="unrecognized"):
        magic_main("--bogus", "experiment: diag_sleep\n")
