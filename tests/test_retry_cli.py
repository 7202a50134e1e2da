"""`sweep retry`, `%sweep retry` and the failure-threshold options of `sweep run` and
`%%sweep run`: the command-line and notebook doors to what tests/test_retry.py and
tests/test_failure_threshold.py check through the Python API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import sweep_magic as sm
from sweep_magic.cli import main

#: While this file exists the kernel's dependency is "down" (set per test).
OUTAGE: Path | None = None


@sm.experiment(
    name="retry_cli_probe",
    params={"x": sm.param(float, min=-10, max=100)},
    metrics={"y": float},
)
def retry_cli_probe(x: float, seed: int) -> dict[str, float]:
    if x < 0:
        raise ValueError(f"x = {x} is outside the model")
    if OUTAGE is not None and OUTAGE.exists():
        raise TimeoutError("the dependency did not answer")
    return {"y": x + (seed % 97) / 97}


SPEC_YAML = """\
experiment: retry_cli_probe
replicates: 2
shard_size: 1
params:
  x: [-1, 1, 2, 3, 4]
"""


@pytest.fixture
def outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    flag = tmp_path / "outage"
    monkeypatch.setattr(f"{__name__}.OUTAGE", flag)
    return flag


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "probe.yaml"
    path.write_text(SPEC_YAML)
    return path


def _sweep(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sweep_retry_recovers_the_transient_rows_and_reports_the_attempt(
    root: Path, outage: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outage.write_text("")
    code, out, _ = _sweep(capsys, "run", str(spec_file), "--root", str(root), "--json")
    assert code == 0
    run_id = json.loads(out)["run_id"]
    assert json.loads(out)["rows_failed"] == 10
    outage.unlink()

    code, out, _ = _sweep(
        capsys, "retry", run_id, "--root", str(root), "--error-kind", "TimeoutError"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(
        f"retry 1 of run {run_id} (TimeoutError): 8 rows retried, 8 recovered, 0 failed again; "
    ), lines
    assert lines[1] == f"{run_id}: complete, 8 rows ok, 2 failed"
    run = sm.open_run(run_id, root)
    assert run.failures()["error_kind"].tolist() == ["ValueError", "ValueError"]

    # Every kind: the deterministic failure fails again, and --json carries the record.
    code, out, _ = _sweep(capsys, "retry", run_id, "--root", str(root), "--json")
    assert code == 0
    answer = json.loads(out)
    assert (answer["rows_ok"], answer["rows_failed"]) == (8, 2)
    assert answer["retry"]["attempt"] == 2
    assert (answer["retry"]["rows_retried"], answer["retry"]["rows_recovered"]) == (2, 0)
    assert answer["retry"]["error_kinds"] == []


def test_sweep_retry_of_an_unknown_run_names_the_root(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _sweep(capsys, "retry", "20260101-000000-deadbeef", "--root", str(root))
    assert code == 2
    assert "20260101-000000-deadbeef" in err
    assert str(root) in err
    assert not any(root.glob("runs/*")), "nothing written for an unknown run"


def test_max_failures_on_the_command_line_stops_the_run_as_failed(
    root: Path, outage: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outage.write_text("")
    code, _, err = _sweep(
        capsys, "run", str(spec_file), "--root", str(root), "--threads", "1", "--max-failures", "3"
    )
    assert code == 1
    assert "4 rows failed, more than max_failures = 3" in err
    (run,) = sm.runs(root).itertuples()
    assert run.state == "failed"
    assert sm.open_run(run.run_id, root).spec["max_failures"] == 3


def test_max_failure_rate_out_of_range_names_the_field(
    root: Path, spec_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _sweep(
        capsys, "run", str(spec_file), "--root", str(root), "--max-failure-rate", "1.5"
    )
    assert code == 2
    assert "max_failure_rate" in err
    assert not (root / "runs").exists() or not any((root / "runs").iterdir())


# -- the magic ------------------------------------------------------------------------------------


def _magic(ip: InteractiveShell, line: str, cell: str | None = None) -> tuple[Any, str]:
    with capture_output() as captured:
        if cell is None:
            result = ip.run_line_magic("sweep", line)
        else:
            result = ip.run_cell_magic("sweep", line, cell)
    return result, captured.stdout


def test_magic_retry_of_the_last_run_and_a_threshold_option(
    ip: InteractiveShell, root: Path, outage: Path
) -> None:
    outage.write_text("")
    _magic(ip, f"run --root {root} -o first", SPEC_YAML)
    first = ip.user_ns["first"]
    assert first.status().rows_failed == 10
    outage.unlink()

    status, shown = _magic(ip, "retry --error-kind TimeoutError")
    assert f"retry 1 of run {first.run_id}: 8 rows retried, 8 recovered, 0 failed again" in shown
    assert (status.state, status.rows_ok, status.rows_failed) == ("complete", 8, 2)

    outage.write_text("")
    with pytest.raises(UsageError, match="more than max_failures = 1"):
        _magic(ip, f"run --root {root} --threads 1 --max-failures 1", SPEC_YAML)
    # The stopped run is the session's last run; the magic retries it by id too.
    failed = sm.runs(root).query("state == 'failed'").run_id.tolist()
    assert len(failed) == 1
    outage.unlink()
    status, shown = _magic(ip, f"retry {failed[0]} --root {root}")
    # Its one finished shard held x = -1, which fails the same way again; the run stays
    # stopped (a resume computes the rest).
    assert "2 rows retried, 0 recovered, 2 failed again" in shown
    assert (status.state, status.shards_done, status.rows_failed) == ("failed", 1, 2)
