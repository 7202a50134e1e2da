"""A failure threshold (`max_failures`, `max_failure_rate`) stops a run early as `failed`, with
the reason, in every view; retrying the failed rows then resuming finishes it. Also: one run
state in every view after an interrupt, and a finished run's duration that stays put."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

import sweep_magic as sm
from sweep_magic.errors import RunFailedError, SpecError

#: While this file exists the kernel's dependency is "down" (set per test).
OUTAGE: Path | None = None


@sm.experiment(
    name="threshold_probe",
    params={"x": sm.param(float, min=0, max=100)},
    metrics={"y": float},
)
def threshold_probe(x: float, seed: int) -> dict[str, float]:
    if OUTAGE is not None and OUTAGE.exists():
        raise TimeoutError("the dependency did not answer")
    return {"y": x + (seed % 97) / 97}


def _spec(**extra: object) -> dict[str, object]:
    return {
        "experiment": "threshold_probe",
        "shard_size": 1,
        "replicates": 2,
        "params": {"x": list(range(10))},
        **extra,
    }


@pytest.fixture
def outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    flag = tmp_path / "outage"
    monkeypatch.setattr(f"{__name__}.OUTAGE", flag)
    return flag


def test_a_run_over_its_threshold_stops_as_failed_in_every_view(root: Path, outage: Path) -> None:
    outage.write_text("")
    run = sm.run(_spec(max_failures=3), root=root, threads=1)
    with pytest.raises(RunFailedError, match="4 rows failed, more than max_failures = 3"):
        run.wait()
    status = run.status()
    assert status.state == "failed"
    assert status.reason == "4 rows failed, more than max_failures = 3"
    # Stopped early: two shards (2 rows each) done, the other eight never started.
    assert (status.shards_done, status.rows_failed, status.rows_ok) == (2, 4, 0)
    assert sm.runs(root).set_index("run_id").loc[run.run_id, "state"] == "failed"
    assert sm.open_run(run.run_id, root).status().state == "failed"

    # Resuming while still over the threshold fails again at once, computing nothing.
    with pytest.raises(RunFailedError):
        sm.resume(run.run_id, root).wait()
    assert sm.open_run(run.run_id, root).status().shards_done == 2

    # The dependency is back: retry the failed rows (back under the threshold, the run is
    # no longer failed), then resume: the run equals a clean one.
    outage.unlink()
    run.retry_failed().wait()
    assert sm.open_run(run.run_id, root).status().state == "incomplete"
    done = sm.resume(run.run_id, root).wait()
    assert done.status().state == "complete"
    clean = sm.run(_spec(max_failures=3), root=root / "clean").wait()
    columns = ["point", "replicate", "x", "y", "seed"]
    pd.testing.assert_frame_equal(done.to_pandas()[columns], clean.to_pandas()[columns])
    assert done.failures().empty


def test_the_rate_counts_against_every_row_of_the_run(root: Path, outage: Path) -> None:
    outage.write_text("")
    run = sm.run(_spec(max_failure_rate=0.25), root=root, threads=1)
    with pytest.raises(RunFailedError, match="6 of 20 rows failed, more than max_failure_rate"):
        run.wait()
    assert run.status().shards_done == 3


def test_no_threshold_means_every_row_runs(root: Path, outage: Path) -> None:
    outage.write_text("")
    run = sm.run(_spec(), root=root, threads=1).wait()
    status = run.status()
    assert (status.state, status.rows_failed) == ("complete", 20)


@pytest.mark.parametrize(
    ("extra", "path", "says"),
    [
        ({"max_failures": -1}, "max_failures", "outside the allowed range"),
        ({"max_failure_rate": 0}, "max_failure_rate", "(0, 1]"),
        ({"max_failure_rate": "5%"}, "max_failure_rate", "expected a number"),
    ],
)
def test_bad_thresholds_name_the_field(extra: dict[str, object], path: str, says: str) -> None:
    with pytest.raises(SpecError, match=path) as err:
        sm.Spec(_spec(**extra))
    assert says in str(err.value)


def test_an_interrupted_run_has_one_state_everywhere(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = {"experiment": "diag_sleep", "shard_size": 1, "params": {"micros": [200_000] * 6}}
    run = sm.run(spec, root=root, threads=1)
    execution = run._execution
    assert execution is not None
    real_wait = execution.wait
    calls = {"n": 0}

    def interrupted(timeout: float | None = None) -> bool:
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt  # what Ctrl-C does to a waiting notebook
        return real_wait(timeout)

    monkeypatch.setattr(execution, "wait", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run.wait()
    states = {
        "handle": run.status().state,
        "runs": sm.runs(root).set_index("run_id").loc[run.run_id, "state"],
        "opened": sm.open_run(run.run_id, root).status().state,
    }
    assert set(states.values()) == {"cancelled"}, states


def test_a_finished_run_reports_its_own_duration(root: Path) -> None:
    run = sm.run({"experiment": "diag_sleep", "params": {"micros": [0, 1]}}, root=root).wait()
    first = run.status().elapsed_s
    opened = sm.open_run(run.run_id, root).status().elapsed_s
    time.sleep(1.1)
    assert run.status().elapsed_s == first
    assert sm.open_run(run.run_id, root).status().elapsed_s == opened
    assert opened < 2.0, "creation (whole seconds) to completion"
