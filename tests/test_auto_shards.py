"""`shard_size: auto`: shards sized from a calibration where the run is created, the choice
and its reason recorded in the manifest and printed, and results equal to any other cut."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest

import sweep_magic as sm
from sweep_magic.backends.cloud import CloudRun

if TYPE_CHECKING:
    from _faults import Emulation

SPEC = {
    "experiment": "gbm_option",
    "seed": 5,
    "params": {
        "s0": 100,
        "strike": {"linspace": [80, 120, 40]},
        "sigma": [0.1, 0.3],
        "paths": 2000,
    },
}


def _rows(run: sm.Run) -> pd.DataFrame:
    frame = run.to_pandas().drop(columns="duration_us")
    return frame.sort_values(["point", "replicate"]).reset_index(drop=True)


def test_auto_shards_locally_record_their_reason_and_change_no_result(root: Path) -> None:
    spec = sm.Spec({**SPEC, "shard_size": "auto"})
    assert spec.shard_size_given
    assert spec.normalized["shard_size"] == "auto"
    auto = sm.run(spec, root=root).wait()
    choice = auto.manifest["shard_choice"]
    size = auto.plan["shard_size"]
    assert choice.startswith(f"shard_size {size} (auto): "), choice
    assert auto.spec["shard_size"] == size
    fixed = sm.run({**SPEC, "shard_size": 7}, root=root).wait()
    assert "shard_choice" not in fixed.manifest
    pd.testing.assert_frame_equal(_rows(auto), _rows(fixed))


def test_a_bad_shard_size_names_both_forms() -> None:
    with pytest.raises(sm.SpecError, match=r'or "auto", got "big"') as info:
        sm.Spec({**SPEC, "shard_size": "big"})
    assert info.value.path == "shard_size"


def test_the_cli_prints_the_choice(root: Path, tmp_path: Path, sweep_cmd: list[str]) -> None:
    spec = tmp_path / "auto.yaml"
    spec.write_text(
        "experiment: diag_sleep\nshard_size: auto\nparams: {micros: {range: [0, 300, 1]}}\n"
    )
    out = subprocess.run(
        [*sweep_cmd, "run", str(spec), "--root", str(root)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "(auto): " in out.stderr, out.stderr


@pytest.mark.cloud
def test_the_cloud_sizes_shards_unless_the_author_did(
    emulation: Emulation, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulation.clear()
    for key, value in emulation.cloud.client_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(CloudRun, "poll_s", 0.2)
    spec = sm.Spec(SPEC)
    assert not spec.shard_size_given
    cloud = sm.run(spec, backend="cloud").wait(timeout=300)
    assert cloud.manifest["shard_choice"].startswith("shard_size "), cloud.manifest
    local = sm.run(spec, root=root).wait()
    assert "shard_choice" not in local.manifest  # locally the default cut stays
    pd.testing.assert_frame_equal(_rows(cloud), _rows(local))


def test_the_estimate_shows_the_cloud_plan(root: Path) -> None:
    """`sweep estimate` prices the cloud with the shards the orchestrator would cut."""
    spec = sm.Spec(SPEC)
    est = sm.estimate(spec, budget_s=0.5, root=root)
    cloud = next(b for b in est.backends if b.backend == "cloud")
    assert cloud.notes[0].startswith("the cloud sizes shards itself: shard_size "), cloud.notes
    assert cloud.details["shard_size"] * (cloud.details["shards"] - 1) < spec.points
    fixed = sm.estimate(sm.Spec({**SPEC, "shard_size": 7}), budget_s=0.5, root=root)
    cloud_fixed = next(b for b in fixed.backends if b.backend == "cloud")
    assert "shard_size" not in cloud_fixed.details
