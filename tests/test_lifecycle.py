"""Run lifecycle: status, progress, cancel from another process, resume after a real SIGKILL,
and the list of runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import sweep_magic as sm

SLOW = {
    "experiment": "diag_sleep",
    "seed": 8,
    "replicates": 2,
    "shard_size": 5,
    "params": {"micros": {"range": [3000, 3400, 1]}},
}  # 400 points in 80 shards, 10 rows of 3 ms each: about 2.4 s of work


def _frame(run: sm.Run) -> pd.DataFrame:
    return run.to_pandas().drop(columns="duration_us")


def _wait_for_markers(root: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list(root.glob("runs/*/shards/*.json"))) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"fewer than {count} shards finished in {timeout} s")


def test_sigkilled_run_resumes_to_the_identical_result(
    tmp_path: Path, sweep_cmd: list[str], root: Path
) -> None:
    spec_file = tmp_path / "slow.json"
    spec_file.write_text(json.dumps(SLOW))
    killed_root = tmp_path / "killed"
    proc = subprocess.Popen(
        [*sweep_cmd, "run", str(spec_file), "--root", str(killed_root), "--threads", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_for_markers(killed_root, 10)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    (run_dir,) = (killed_root / "runs").iterdir()
    run_id = run_dir.name

    before = sm.open_run(run_id, root=killed_root).status()
    assert before.state == "incomplete"
    assert 10 <= before.shards_done < before.shards_total == 80

    resumed = sm.resume(run_id, root=killed_root)
    resumed.wait()
    after = resumed.status()
    assert after.state == "complete"
    assert (after.shards_done, after.rows_ok, after.rows_failed) == (80, 800, 0)

    clean = sm.run(SLOW).wait()
    pd.testing.assert_frame_equal(_frame(resumed), _frame(clean))


def test_cancel_from_another_process_then_resume(root: Path, sweep_cmd: list[str]) -> None:
    run = sm.run(SLOW, threads=1)
    _wait_for_markers(root, 3)
    out = subprocess.run(
        [*sweep_cmd, "cancel", run.run_id], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    with pytest.raises(sm.RunCancelledError, match=r"sm\.resume"):
        run.wait(timeout=30)
    st = run.status()
    assert st.state == "cancelled"
    assert st.shards_done < st.shards_total
    listed = sm.runs()
    assert listed.set_index("run_id").loc[run.run_id, "state"] == "cancelled"

    resumed = sm.resume(run.run_id)
    assert resumed.wait().status().state == "complete"
    assert len(resumed.to_pandas()) == 800
    assert sm.runs().set_index("run_id").loc[run.run_id, "state"] == "complete"


def test_status_while_running_and_progress_bar(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = sm.run(SLOW, threads=1)
    _wait_for_markers(root, 2)
    live = run.status()
    assert live.state == "running"
    assert 0 < live.shards_done < live.shards_total
    assert live.eta_s is not None
    assert live.eta_s > 0
    run.wait(progress=True)
    err = capsys.readouterr().err
    assert "80/80" in err
    assert "shard" in err
    done = run.status()
    assert (done.state, done.eta_s, done.fraction_done) == ("complete", 0.0, 1.0)


def test_runs_lists_every_run_oldest_first(root: Path) -> None:
    assert sm.runs().empty
    a = sm.run({"experiment": "diag_sleep"}).wait()
    b = sm.run({"experiment": "diag_fail", "params": {"fail_rate": 1.0}}).wait()
    df = sm.runs()
    assert list(df["run_id"]) == sorted([a.run_id, b.run_id])
    row = df.set_index("run_id").loc[b.run_id]
    assert (row["experiment"], row["rows_ok"], row["rows_failed"], row["state"]) == (
        "diag_fail",
        0,
        1,
        "complete",
    )


def test_cli_lifecycle_commands(
    root: Path, sweep_cmd: list[str], clean_env: dict[str, str]
) -> None:
    def sweep(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*sweep_cmd, *args], capture_output=True, text=True, env=clean_env, timeout=60
        )

    run = sm.run({"experiment": "diag_sleep", "replicates": 3}).wait()
    status = sweep("status", run.run_id, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["state"] == "complete"
    listed = sweep("runs", "--json")
    assert [r["run_id"] for r in json.loads(listed.stdout)] == [run.run_id]
    resumed = sweep("resume", run.run_id, "--json")
    assert json.loads(resumed.stdout)["rows_ok"] == 3
    for bad in ("20990101-000000-deadbeef", "../etc", "a/b"):
        out = sweep("status", bad)
        assert out.returncode == 2
        assert out.stderr.startswith("error: "), out.stderr
        assert out.stderr.count("\n") == 1, out.stderr


EXITS_MID_RUN = """
import sys
import sweep_magic as sm
micros = int(sys.argv[1])
sm.run({"experiment": "diag_sleep", "shard_size": 10,
        "params": {"micros": {"range": [micros, micros + 200, 1]}}}, root=sys.argv[2])
raise SystemExit(7)
"""


@pytest.mark.parametrize("micros", [50, 100, 200, 500, 1000, 3000])
def test_a_script_that_exits_mid_run_stops_it_cleanly(
    root: Path, tmp_path: Path, sweep_cmd: list[str], micros: int
) -> None:
    """A script ending while its run computes (here: 200 points of 10 µs to 0.6 s in all,
    some finishing just as the interpreter shuts down) exits with its own status, not an
    abort, and leaves a run that `sweep resume` completes."""
    script = tmp_path / "exits.py"
    script.write_text(EXITS_MID_RUN)
    done = subprocess.run(
        [os.environ.get("PYTHON", sys.executable), str(script), str(micros), str(root)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 7, done.stderr
    assert "FATAL" not in done.stderr
    assert "Aborted" not in done.stderr
    (run_dir,) = (root / "runs").iterdir()
    subprocess.run([*sweep_cmd, "resume", run_dir.name, "--root", str(root)], check=True)
    assert sm.open_run(run_dir.name, root=root).status().shards_done == 20
