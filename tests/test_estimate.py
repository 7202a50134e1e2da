"""`sm.estimate`: the fleet simulator against hand-computed schedules, the cost model against
hand-computed bills, the calibration on real small specs, and the places where the estimate
must agree with the code it models (the Ray backend's batching, the cloud orchestrator's
defaults, the editor's quick estimate)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pytest
import yaml

import sweep_magic as sm
from sweep_magic import _native
from sweep_magic.backends.batching import TASKS_PER_CPU, ray_batches
from sweep_magic.estimate import (
    CLOUD_DEFAULTS,
    Calibration,
    CloudAssumptions,
    LocalAssumptions,
    RayAssumptions,
    add_cli_parser,
    calibrate,
    cli_main,
    estimate,
    magic_main,
    quick_local_seconds,
    simulate_fleet,
)
from sweep_magic.estimate import assumptions as assumptions_module
from sweep_magic.estimate.models import _estimate_cloud, _estimate_ray
from sweep_magic.estimate.report import format_duration

CLOUD_DEFAULT_KEYS = (
    "shards_per_invoke",
    "dispatch_concurrency",
    "invokes_per_dispatcher",
    "max_shards_per_invoke",
)


def _sleep_spec(shards: int, shard_size: int = 1) -> sm.Spec:
    return sm.Spec(
        {
            "experiment": "diag_sleep",
            "shard_size": shard_size,
            "params": {"micros": {"range": [0, shards * shard_size, 1]}},
        }
    )


def _flat_calibration(row_s: float = 0.0, shard_overhead_s: float = 0.0) -> Calibration:
    return Calibration(
        sample_points=[0],
        row_seconds=[row_s],
        mean_row_s=row_s,
        shard_overhead_s=shard_overhead_s,
        wall_s=0.0,
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
    assert 0.9e-3 < cal.mean_row_s < 6e-3  # busy-wait wall time; a loaded machine stretches it
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


# -- agreement with the code the estimate models --------------------------------------------


def test_ray_batches_cut_shards_like_the_backend() -> None:
    # The expression the ray backend has always used, written out independently.
    for shards, cpus, per_cpu in [(10, 1, 4), (3, 8, 4), (100, 4, 4), (7, 2, 1), (1, 64, 4)]:
        todo = list(range(5, 5 + shards))
        n = max(1, min(len(todo), cpus * per_cpu))
        expected = [b for b in (todo[i::n] for i in range(n)) if b]
        got = ray_batches(todo, cpus, per_cpu)
        assert got == expected
        assert sorted(s for b in got for s in b) == todo
    assert ray_batches([], 4) == []
    assert len(ray_batches(list(range(1000)), 2)) == 2 * TASKS_PER_CPU


@pytest.mark.parametrize(
    ("shards", "nodes", "cores"), [(3, 2, 4), (100, 1, 4), (64, 2, 8), (1, 1, 1)]
)
def test_the_ray_model_runs_one_task_per_backend_batch(shards: int, nodes: int, cores: int) -> None:
    spec = _sleep_spec(shards)
    assert RayAssumptions().tasks_per_cpu == TASKS_PER_CPU
    ra = RayAssumptions(nodes=nodes, cores_per_node=cores, task_overhead_s=0.0, startup_s=0.0)
    work = [0.01 * (s + 1) for s in range(shards)]
    b = _estimate_ray(spec, work, _flat_calibration(), ra, 1, LocalAssumptions(row_overhead_s=0))
    batches = ray_batches(list(range(shards)), nodes * cores, TASKS_PER_CPU)
    assert b.details["tasks"] == len(batches)
    assert b.details["cpus"] == nodes * cores
    # The tasks are the batches' summed shard work, run on `cpus` workers.
    tasks = [sum(work[s] for s in batch) for batch in batches]
    expected = simulate_fleet(tasks, concurrency=nodes * cores, billing_granularity_s=0.0)
    assert b.wall_s == pytest.approx(expected.makespan_s)


def test_cloud_defaults_are_the_orchestrators() -> None:
    lookup = getattr(_native, "cloud_defaults", None)
    if lookup is None:
        pytest.skip("this build of sweep_magic._native has no cloud_defaults() yet")
    native = lookup()
    for key in CLOUD_DEFAULT_KEYS:
        assert CLOUD_DEFAULTS[key] == native[key], key
    d = CloudAssumptions()
    assert d.shards_per_invoke == native["shards_per_invoke"]
    assert d.dispatch_concurrency == native["dispatch_concurrency"]
    assert d.invokes_per_dispatcher == native["invokes_per_dispatcher"]


def test_cloud_defaults_fallback_and_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without cloud_defaults() in the native module, the orchestrator's known defaults.
    monkeypatch.delattr(_native, "cloud_defaults", raising=False)
    assert dict(assumptions_module._load_cloud_defaults()) == {
        "shards_per_invoke": 8,
        "dispatch_concurrency": 16,
        "invokes_per_dispatcher": 1000,
        "max_shards_per_invoke": 64,
    }
    # With it, its numbers, whatever they are.
    fake = {k: i + 2 for i, k in enumerate(CLOUD_DEFAULT_KEYS)}
    monkeypatch.setattr(_native, "cloud_defaults", lambda: fake, raising=False)
    assert dict(assumptions_module._load_cloud_defaults()) == fake
    # shards_per_invoke is bounded by the payload limit.
    most = CLOUD_DEFAULTS["max_shards_per_invoke"]
    assert CloudAssumptions(shards_per_invoke=most).shards_per_invoke == most
    with pytest.raises(sm.SweepError, match=f"1 to {most}"):
        CloudAssumptions(shards_per_invoke=most + 1)


def test_large_runs_fan_out_through_several_dispatchers() -> None:
    # 4,000 one-shard invocations, 1,000 per dispatcher: four dispatchers of 16 parallel
    # 10 ms Invoke calls release 6,400 invocations per second; all 4,000 by 0.625 s.
    spec = _sleep_spec(4000)
    cloud = CloudAssumptions(
        account_concurrency=10_000,
        burst_environments=10_000,
        cold_start_s=0.0,
        shards_per_invoke=1,
        invoke_overhead_s=0.0,
        shard_write_s=0.0,
        dispatch_concurrency=16,
        invoke_latency_s=0.01,
        invokes_per_dispatcher=1000,
        submit_s=0.0,
    )
    b = _estimate_cloud(spec, [1.0] * 4000, cloud, LocalAssumptions(row_overhead_s=0.0))
    assert b.details["dispatchers"] == 4
    # Sending the four dispatchers (4 x 10 ms), then the last release at 3,999 / 6,400 s,
    # then one second of work.
    assert b.wall_s == pytest.approx(0.04 + 3999 * 0.01 / 64 + 1.0)
    single = _estimate_cloud(
        _sleep_spec(10), [1.0] * 10, cloud, LocalAssumptions(row_overhead_s=0.0)
    )
    assert single.details["dispatchers"] == 1
    assert single.wall_s == pytest.approx(9 * 0.01 / 16 + 1.0)


def test_quick_local_model_schedules_shards_on_cores() -> None:
    # 10 shards of 4 rows at 1 ms per row on 3 cores: four rounds of 4 ms.
    spec = _sleep_spec(10, shard_size=4)
    none = LocalAssumptions(row_overhead_s=0.0, shard_overhead_s=0.0)
    assert quick_local_seconds(spec, 1e-3, cores=3, local=none) == pytest.approx(0.016)
    # The default adds the engine's per-row overhead.
    assert quick_local_seconds(spec, 1e-3, cores=3) == pytest.approx(0.016 + 16 * 1e-6)
    with pytest.raises(sm.SweepError, match="cores"):
        quick_local_seconds(spec, 1e-3, cores=0)


def test_the_editor_uses_the_estimate_packages_local_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("ipywidgets", reason="the editor needs ipywidgets")
    from sweep_magic.editor import SpecEditor, _describe_time

    ed = SpecEditor("gbm_option")
    ed.set("s0", 100.0)
    ed.set("sigma", 0.2)
    ed.set("strike", mode="linspace", start=80, stop=120, n=9)
    ed.set("replicates", 3)
    assert ed.spec is not None
    assert ed.seconds_per_row is not None
    cores = os.cpu_count() or 1
    assert ed.estimated_seconds == quick_local_seconds(ed.spec, ed.seconds_per_row, cores=cores)
    # With a fixed row time, the number shown is exactly the model's.
    monkeypatch.setattr(_native, "time_rows", lambda text, fmt, n: 2e-3)
    ed.set("sigma", [0.1, 0.2, 0.3])
    assert ed.spec is not None
    expected = quick_local_seconds(ed.spec, 2e-3, cores=cores)
    assert ed.estimated_seconds == expected
    # Under a second the editor gives the rate instead of a sub-second duration.
    assert ed.info.value.endswith(_describe_time(expected, 81, cores)), ed.info.value
    monkeypatch.setattr(_native, "time_rows", lambda text, fmt, n: 2.0)
    ed.set("sigma", [0.1, 0.2])
    slow = quick_local_seconds(ed.spec, 2.0, cores=cores)
    assert f"about {format_duration(slow)} on {cores} cores" in ed.info.value
    # An invalid spec has no estimate.
    ed.set("sigma", 9.0)
    assert ed.spec is None
    assert ed.estimated_seconds is None


def test_the_editor_shows_the_spec_as_yaml() -> None:
    pytest.importorskip("ipywidgets", reason="the editor needs ipywidgets")
    from sweep_magic.editor import SpecEditor, to_yaml

    ed = SpecEditor("gbm_option")
    ed.set("s0", 100.0)
    ed.set("strike", mode="linspace", start=90, stop=110, n=3)
    ed.set("sigma", [0.2, 0.3])
    assert yaml.safe_load(ed.yaml.value) == ed.spec_dict()
    assert list(yaml.safe_load(ed.yaml.value)) == list(ed.spec_dict())  # the form's order
    assert sm.Spec.from_text(ed.yaml.value) == ed.spec
    # Strings that YAML would read as something else stay strings.
    tricky = {"experiment": "x", "params": {"a": "yes", "b": "1.5", "c": "null", "d": "é"}}
    assert yaml.safe_load(to_yaml(tricky)) == tricky
