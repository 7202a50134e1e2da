"""The %sweep magics in a real IPython shell: cells run as a user runs them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import sweep_magic as sm


def cell(ip: InteractiveShell, source: str) -> tuple[Any, str]:
    with capture_output() as captured:
        result = ip.run_cell(source)
    shown = "".join(o.data.get("text/plain", "") for o in captured.outputs)
    return result, captured.stdout + captured.stderr + shown


GBM_CELL = """%%sweep run -o r
experiment: gbm_option
seed: 2
replicates: 2
params:
  s0: 100
  strike: {strikes}
  sigma: {linspace: [0.1, 0.3, 3]}
  paths: 5000
"""


def test_run_cell_interpolates_blocks_and_stores_the_handle(
    ip: InteractiveShell, root: Path
) -> None:
    ip.user_ns["strikes"] = [90, 100, 110]
    result, out = cell(ip, GBM_CELL)
    assert result.error_in_exec is None, out
    run = ip.user_ns["r"]
    assert isinstance(run, sm.Run)
    assert run.status().state == "complete"
    df = run.to_pandas()
    assert sorted(df["strike"].unique()) == [90.0, 100.0, 110.0]
    assert len(df) == 18
    assert f"run {run.run_id}: complete, 18 rows ok" in out
    assert "[18 rows x 13 columns]" in out  # the result table was displayed


def test_line_run_from_a_file_and_no_block(ip: InteractiveShell, tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text("experiment: diag_sleep\nreplicates: 40\nparams: {micros: 2000}\n")
    result, out = cell(ip, f"h = %sweep run -f {spec} --no-block")
    assert result.error_in_exec is None, out
    handle = ip.user_ns["h"]
    assert isinstance(handle, sm.Run)
    handle.wait()
    assert len(handle.to_pandas()) == 40


def test_status_runs_query_and_config(ip: InteractiveShell) -> None:
    ip.user_ns["strikes"] = [100]
    cell(ip, GBM_CELL)
    run_id = ip.user_ns["r"].run_id
    status, _ = cell(ip, "%sweep status")
    assert status.result.state == "complete"
    runs, _ = cell(ip, "%sweep runs")
    assert list(runs.result["run_id"]) == [run_id]
    query, out = cell(
        ip,
        "%%sweep query -o q\n"
        "SELECT sigma, avg(price) AS p FROM last_run GROUP BY sigma ORDER BY sigma",
    )
    assert query.error_in_exec is None, out
    assert list(ip.user_ns["q"]["sigma"]) == [0.1, 0.2, 0.3]
    config, _ = cell(ip, "%sweep config")
    frame: pd.DataFrame = config.result
    assert set(frame["setting"]) >= {"backend", "root", "api_url", "region"}
    assert frame.set_index("setting").loc["root", "source"] == "env:SWEEP_ROOT"
    experiments, _ = cell(ip, "%sweep experiments")
    assert "gbm_option" in set(experiments.result["experiment"])


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "%%sweep run\nexperiment: gbm_option\nparams: {s0: 1, strike: 1, sigma: abc}\n",
            'params.sigma: expected a number or list, got "abc"',
        ),
        ("%sweep status 20990101-000000-deadbeef", "not found: run 20990101-000000-deadbeef"),
        ("%sweep run --bogus", "unrecognized arguments: --bogus"),
        ("%sweep frobnicate", "invalid choice: 'frobnicate'"),
        ("%%sweep query\nSELEC 1", "SQL does not parse"),
        ("%sweep run", "put the spec (YAML) in the cell body"),
    ],
)
def test_mistakes_are_one_line_usage_errors(
    ip: InteractiveShell, source: str, message: str
) -> None:
    result, out = cell(ip, source)
    assert isinstance(result.error_in_exec, UsageError)
    assert message in str(result.error_in_exec)
    assert "Traceback" not in out


def test_help_documents_the_subcommands(ip: InteractiveShell) -> None:
    doc = ip.find_line_magic("sweep").__doc__ or ""
    # @magic_arguments writes the argparse usage into the docstring that `%sweep?` prints.
    assert "%sweep [-f FILE] [--backend BACKEND] [--cloud]" in doc
    assert "positional arguments" in doc
    for word in ("experiments", "status", "query", "config", "editor", "--no-block", "--cloud"):
        assert word in doc


def test_editor_builds_validates_and_runs(ip: InteractiveShell, root: Path) -> None:
    editor, _ = cell(ip, "%sweep editor gbm_option")
    ed = editor.result
    ed.set("s0", 100.0)
    ed.set("strike", mode="linspace", start=90, stop=110, n=3)
    ed.set("sigma", [0.2, 0.3])
    ed.set("replicates", 2)
    assert "6 points, 12 rows" in ed.info.value
    assert yaml.safe_load(ed.yaml.value)["params"]["strike"] == {"linspace": [90.0, 110.0, 3]}
    assert sm.Spec.from_text(ed.yaml.value) == ed.spec
    ed.set("sigma", 9.0)
    assert "params.sigma: 9 is outside the allowed range (0, 5]" in ed.error.value
    assert ed.run_button.disabled
    ed.set("sigma", 0.25)
    assert not ed.run_button.disabled
    run = ed.run(block=True)
    assert run is not None
    assert ed.progress.value == ed.progress.max
    assert ed.progress.bar_style == "success"
    assert len(run.to_pandas()) == 6
    status, _ = cell(ip, "%sweep status")
    assert status.result.run_id == run.run_id


def test_query_cells_interpolate_values_as_sql_literals(ip: InteractiveShell) -> None:
    ip.user_ns["strikes"] = [100]
    cell(ip, GBM_CELL)
    ip.user_ns["rid"] = ip.user_ns["r"].run_id
    ip.user_ns["sigmas"] = [0.1, 0.3]
    ip.user_ns["evil"] = "x' OR '1'='1"
    query, out = cell(
        ip,
        "%%sweep query -o q\nSELECT count(*) AS n FROM results_gbm_option\n"
        "WHERE run_id = {rid} AND sigma IN ({sigmas})",
    )
    assert query.error_in_exec is None, out
    assert ip.user_ns["q"]["n"].tolist() == [4]
    # A quote in a value stays inside its literal: it matches nothing, and changes nothing.
    query, out = cell(
        ip, "%%sweep query -o q\nSELECT count(*) AS n FROM results_gbm_option WHERE run_id = {evil}"
    )
    assert query.error_in_exec is None, out
    assert ip.user_ns["q"]["n"].tolist() == [0]
