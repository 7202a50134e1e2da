"""What a new user meets first: the README's set-up, the `sweep` command's messages, Ctrl-C,
the %sweep magics' usage and the small things of the Python API that a first session shows."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import sweep_magic as sm

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())


def sweep(
    cmd: list[str], *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def cell(ip: InteractiveShell, source: str) -> tuple[Any, str]:
    with capture_output() as captured:
        result = ip.run_cell(source)
    shown = "".join(o.data.get("text/plain", "") for o in captured.outputs)
    return result, captured.stdout + captured.stderr + shown


def _spec_file(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _wait_for_markers(root: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list(root.glob("runs/*/shards/*.json"))) >= count:
            return
        time.sleep(0.01)
    raise AssertionError(f"fewer than {count} shards finished in {timeout} s")


# -- set-up: the checkout imports after `bash scripts/demo.sh` ---------------------------------


@pytest.mark.slow
def test_the_checkout_imports_from_the_repository_root() -> None:
    # A Python started in the checkout finds ./sweep_magic first: the extension module must be
    # there (an editable / develop install), not only in site-packages.
    done = subprocess.run(
        [sys.executable, "-c", "import sweep_magic, sweep_magic._native; print('ok')"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def _commands(script: str) -> list[str]:
    return [
        line.strip()
        for line in script.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_demo_script_installs_the_checkout_in_develop_mode() -> None:
    # Checked statically: a release build of the engine in a scratch copy takes minutes.
    commands = _commands((REPO / "scripts" / "demo.sh").read_text())
    develop = [c for c in commands if "maturin develop" in c]
    assert len(develop) == 1, commands
    assert "--release" in develop[0]
    assert "--locked" in develop[0]
    # No plain (non-editable) install of the checkout, which the source folder would shadow.
    assert not [c for c in commands if re.search(r"pip install\b.*(\s\.$|\s\.\s)", c)], commands
    # maturin itself is the version pyproject's [build-system] pins.
    (pin,) = PYPROJECT["build-system"]["requires"]
    assert any("pip install" in c and pin in c for c in commands), commands
    assert commands.index(next(c for c in commands if pin in c)) < commands.index(develop[0])


def test_the_readme_says_how_to_add_extras_without_a_rebuild() -> None:
    extras = re.search(r"\.venv/bin/maturin develop --release --locked --extras (\S+)", README)
    assert extras, "README: no command adding extras to the demo's environment"
    named = set(extras.group(1).split(","))
    assert {"jupyter", "ray"} <= named
    assert named <= set(PYPROJECT["project"]["optional-dependencies"])


# -- Ctrl-C twice ---------------------------------------------------------------------------------

SLOW_ROWS = (
    "experiment: diag_sleep\nseed: 5\nreplicates: 2\nshard_size: 2\n"
    "params: {micros: {range: [15000, 15060, 1]}}\n"
)  # 60 points in 30 shards, rows of 15 ms


@pytest.mark.slow
@pytest.mark.parametrize("gap_ms", [0, 20, 100])
@pytest.mark.parametrize("attempt", [1, 2])
def test_two_ctrl_c_end_the_run_with_130_and_one_hint(
    sweep_cmd: list[str], tmp_path: Path, gap_ms: int, attempt: int
) -> None:
    spec = _spec_file(tmp_path, SLOW_ROWS)
    root = tmp_path / "r"
    proc = subprocess.Popen(
        [*sweep_cmd, "run", str(spec), "--root", str(root), "--threads", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell that starts the tests in the background ignores SIGINT for its children.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    _wait_for_markers(root, 1)
    proc.send_signal(signal.SIGINT)
    time.sleep(gap_ms / 1000)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert err.count("sweep resume") == 1, err
    assert "FATAL" not in err
    assert "Traceback" not in err
    assert "Exception ignored" not in err
    (run_dir,) = (root / "runs").iterdir()
    resumed = sweep(sweep_cmd, "resume", run_dir.name, "--root", str(root), "--json")
    assert resumed.returncode == 0, resumed.stderr
    after = json.loads(resumed.stdout)
    assert (after["state"], after["rows_ok"]) == ("complete", 120)


# -- undefined notebook variables -----------------------------------------------------------------


def test_an_undefined_variable_in_a_run_cell_is_named(ip: InteractiveShell, root: Path) -> None:
    result, out = cell(
        ip,
        "%%sweep run\nexperiment: gbm_option\nparams: {s0: 100, strike: {strikez}, sigma: 0.2}\n",
    )
    assert isinstance(result.error_in_exec, UsageError), out
    message = str(result.error_in_exec)
    assert "params.strike" in message
    assert "strikez is not defined" in message
    assert "unknown form" not in message
    assert not root.exists()


def test_braces_in_comments_and_flow_maps_are_not_variables(
    ip: InteractiveShell, root: Path
) -> None:
    result, out = cell(
        ip,
        "%%sweep run -o r\n# {nothing} here is a variable\nexperiment: diag_sleep\n"
        "params: {micros: {values: [1, 2]}}\n",
    )
    assert result.error_in_exec is None, out
    assert len(ip.user_ns["r"].to_pandas()) == 2


# -- cancelling a finished run ----------------------------------------------------------------


def _finished_run() -> sm.Run:
    return sm.run({"experiment": "diag_sleep", "replicates": 2}).wait()


def test_sweep_cancel_of_a_complete_run_writes_nothing(
    root: Path, sweep_cmd: list[str], clean_env: dict[str, str]
) -> None:
    run = _finished_run()
    out = sweep(sweep_cmd, "cancel", run.run_id, env=clean_env)
    assert out.returncode == 0, out.stderr
    assert "already complete" in out.stdout
    assert "cancel requested" not in out.stdout
    assert not (run.run_dir / "cancel").exists()
    assert sm.open_run(run.run_id).status().state == "complete"


def test_run_cancel_and_the_magic_leave_a_complete_run_alone(
    ip: InteractiveShell, root: Path
) -> None:
    run = _finished_run()
    run.cancel()
    assert not (run.run_dir / "cancel").exists()
    assert run.status().state == "complete"
    result, out = cell(ip, f"%sweep cancel {run.run_id}")
    assert result.error_in_exec is None, out
    assert "already complete" in out
    assert not (run.run_dir / "cancel").exists()


# -- JSON errors ----------------------------------------------------------------------------------


def test_validate_json_prints_an_error_object(sweep_cmd: list[str], tmp_path: Path) -> None:
    bad = _spec_file(tmp_path, "experiment: gbm_option\nparams: {s0: 1, strike: 1, sigma: abc}\n")
    out = sweep(sweep_cmd, "validate", str(bad), "--json")
    assert out.returncode == 2
    payload = json.loads(out.stdout)
    assert payload["ok"] is False
    assert payload["valid"] is False
    assert payload["kind"] == "spec"
    assert payload["path"] == "params.sigma"
    assert 'expected a number or list, got "abc"' in payload["error"]
    good = sweep(sweep_cmd, "validate", str(REPO / "examples" / "gbm_demo.yaml"), "--json")
    assert json.loads(good.stdout)["ok"] is True


# -- estimate on slow kernels ---------------------------------------------------------------------

# Point 0 costs nothing, every other point 0.2 s: timing point 0 alone would call for the
# largest sample, 40 rows, 8 s.
SLOW_TAIL = "experiment: diag_sleep\nparams:\n  micros: [0, {}]\n".format(
    ", ".join(str(200_000 + k) for k in range(39))
)


@pytest.mark.slow
def test_estimate_shows_progress_bounds_its_calibration_and_says_when_samples_are_few(
    sweep_cmd: list[str], tmp_path: Path
) -> None:
    spec = _spec_file(tmp_path, SLOW_TAIL)
    out = sweep(sweep_cmd, "estimate", str(spec), "--json", "--time-limit", "1")
    assert out.returncode == 0, out.stderr
    assert "calibrating diag_sleep" in out.stderr
    cal = json.loads(out.stdout)["calibration"]
    assert 1 <= cal["samples"] < 10
    assert cal["limited"] is True
    assert "few" in cal["note"]

    env = dict(os.environ, SWEEP_ESTIMATE_TIME_LIMIT="1")
    text = sweep(sweep_cmd, "estimate", str(spec), env=env)
    assert text.returncode == 0, text.stderr
    assert re.search(r"rests on only \d sampled rows? .*stopped at its 1 s limit", text.stdout), (
        text.stdout
    )
    assert "--time-limit" in text.stdout


def test_estimate_time_limit_must_be_positive(sweep_cmd: list[str], tmp_path: Path) -> None:
    spec = _spec_file(tmp_path, "experiment: diag_sleep\n")
    out = sweep(sweep_cmd, "estimate", str(spec), "--time-limit", "0")
    assert out.returncode == 2
    assert "--time-limit: must be more than 0 seconds" in out.stderr


# -- %sweep usage ---------------------------------------------------------------------------------


def test_line_query_takes_the_rest_of_the_line_as_sql(ip: InteractiveShell) -> None:
    result, out = cell(ip, "%sweep query SELECT 1 AS one")
    assert result.error_in_exec is None, out
    result, out = cell(ip, "%sweep query -o q SELECT 'a b' AS s, 2 AS two")
    assert result.error_in_exec is None, out
    assert ip.user_ns["q"].to_dict("records") == [{"s": "a b", "two": 2}]


def test_run_help_prints_help(ip: InteractiveShell) -> None:
    result, out = cell(ip, "%sweep run --help")
    assert result.error_in_exec is None, out
    assert "--backend" in out
    assert "Traceback" not in out


def test_a_missing_spec_file_is_named(ip: InteractiveShell) -> None:
    result, out = cell(ip, "%sweep run -f /missing.yaml")
    assert isinstance(result.error_in_exec, UsageError), out
    assert str(result.error_in_exec) == "spec file /missing.yaml not found"


def test_unknown_runs_name_the_root_searched(
    ip: InteractiveShell, root: Path, sweep_cmd: list[str], clean_env: dict[str, str]
) -> None:
    out = sweep(sweep_cmd, "status", "bogus", env=clean_env)
    assert out.returncode == 2
    assert str(root) in out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    result, text = cell(ip, "%sweep status 20990101-000000-deadbeef")
    assert isinstance(result.error_in_exec, UsageError), text
    assert str(root) in str(result.error_in_exec)


# -- polish ---------------------------------------------------------------------------------------


def test_negative_threads_are_refused(
    sweep_cmd: list[str], tmp_path: Path, ip: InteractiveShell
) -> None:
    spec = _spec_file(tmp_path, "experiment: diag_sleep\n")
    root = tmp_path / "r"
    out = sweep(sweep_cmd, "run", str(spec), "--threads", "-2", "--root", str(root))
    assert out.returncode == 2
    assert "--threads" in out.stderr
    assert "0 for all cores" in out.stderr
    assert not root.exists()
    result, text = cell(ip, f"%sweep run -f {spec} --threads -2 --root {root}")
    assert isinstance(result.error_in_exec, UsageError), text
    assert "0 for all cores" in str(result.error_in_exec)
    assert not root.exists()


def test_toml_errors_give_the_reason(sweep_cmd: list[str], tmp_path: Path) -> None:
    bad = _spec_file(tmp_path, 'experiment = "gbm_option"\nparams = { s0 = 100, \n', "bad.toml")
    out = sweep(sweep_cmd, "validate", str(bad))
    assert out.returncode == 2
    assert "Invalid initial character for a key part (at line 2, column 22)" in out.stderr


def test_counts_are_singular_or_plural(sweep_cmd: list[str], tmp_path: Path) -> None:
    one = _spec_file(tmp_path, "experiment: diag_sleep\n")
    out = sweep(sweep_cmd, "validate", str(one))
    assert "1 point, 1 row, 1 shard," in out.stdout
    ran = sweep(sweep_cmd, "run", str(one), "--root", str(tmp_path / "r"))
    assert "1 point x 1 replicate in 1 shard on local" in ran.stderr
    two = _spec_file(tmp_path, "experiment: diag_sleep\nreplicates: 2\nparams: {micros: [1, 2]}\n")
    out = sweep(sweep_cmd, "validate", str(two))
    assert "2 points, 4 rows, 2 shards," in out.stdout


def test_resume_prints_rows_and_elapsed(
    root: Path, sweep_cmd: list[str], clean_env: dict[str, str]
) -> None:
    run = sm.run(
        {
            "experiment": "diag_sleep",
            "shard_size": 1,
            "params": {"micros": {"range": [2000, 2040, 1]}},
        },
        threads=1,
    )
    run.cancel()
    with pytest.raises(sm.RunCancelledError):
        run.wait()
    out = sweep(sweep_cmd, "resume", run.run_id, env=clean_env)
    assert out.returncode == 0, out.stderr
    assert re.search(rf"{run.run_id}: complete, 40 rows ok, 0 failed, [\d.]+ s", out.stdout), (
        out.stdout
    )


def test_experiments_columns_line_up(sweep_cmd: list[str]) -> None:
    out = sweep(sweep_cmd, "experiments")
    assert out.returncode == 0, out.stderr
    starts: set[tuple[int, ...]] = set()
    for e in sm.experiments():
        if e.origin != "built-in":  # kernels other tests registered in this process
            continue
        for p in e.params:
            (line,) = [
                x for x in out.stdout.splitlines() if x.startswith(f"  {p.name} ") and p.type in x
            ][:1]
            type_at = line.index(f" {p.type} ", len(p.name) + 2) + 1
            starts.add((type_at, line.index(p.description)))
    assert len(starts) == 1, starts


def test_experiments_has_a_short_repr() -> None:
    listed = sm.experiments()
    assert len(repr(listed)) < 500
    assert "gbm_option" in repr(listed)
    assert "<table" in listed._repr_html_()
    assert all(isinstance(e, sm.Experiment) for e in listed)
    frame = listed.to_pandas()
    assert {"experiment", "param", "type"} <= set(frame.columns)


def test_spec_accepts_a_path_like_run(tmp_path: Path) -> None:
    path = _spec_file(tmp_path, "experiment: diag_sleep\nparams: {micros: [1, 2, 3]}\n")
    expected = sm.Spec.from_file(path)
    assert sm.Spec(path) == expected
    assert sm.Spec(str(path)) == expected
    assert sm.Spec(str(path)).points == 3
    with pytest.raises(sm.SpecError, match="not found"):
        sm.Spec(str(tmp_path / "missing.yaml"))


def test_no_rate_for_a_run_already_finished_when_waiting_starts(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = sm.run({"experiment": "diag_sleep", "shard_size": 1, "params": {"micros": [1, 2, 3]}})
    while not run.done():
        time.sleep(0.01)
    capsys.readouterr()
    run.wait(progress=True)
    err = capsys.readouterr().err
    assert "3/3" in err
    assert "shard/s" not in err


def test_reload_ext_keeps_the_last_run(ip: InteractiveShell) -> None:
    result, out = cell(ip, "%%sweep run -o r\nexperiment: diag_sleep\n")
    assert result.error_in_exec is None, out
    run_id = ip.user_ns["r"].run_id
    ip.run_line_magic("reload_ext", "sweep_magic")
    status, out = cell(ip, "%sweep status")
    assert status.error_in_exec is None, out
    assert status.result.run_id == run_id


# -- README ---------------------------------------------------------------------------------------


def _python_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    (block,) = [b for b in blocks if containing in b]
    return block


def test_the_readmes_results_snippet_runs_and_groups_by_every_varying_parameter(
    root: Path,
) -> None:
    using = _python_block("sm.Spec({")
    literal = using[using.index("sm.Spec(") + len("sm.Spec(") : using.index("})") + 1]
    spec = sm.Spec(ast.literal_eval(literal))
    run = sm.run(spec).wait()
    results = _python_block("run.summary(")
    assert 'by=["strike", "sigma"]' in results
    assert "run_id = " in results
    namespace: dict[str, Any] = {"sm": sm, "run": run}
    lines = results.splitlines()
    summary = next(x for x in lines if "run.summary(" in x).split("#")[0].strip()
    query = next(x for x in lines if "sm.query(" in x).split("#")[0].strip()
    # The README's own code is what is under test here.
    exec("\n".join(lines), namespace)  # noqa: S102
    table = eval(summary, namespace)  # noqa: S307
    assert len(table) == spec.points  # one row per (strike, sigma)
    assert (table["price_count"] == 2).all()
    # Another run in the same root does not change the query's answer.
    sm.run({**spec.normalized, "seed": 7}).wait()
    frame = eval(query, namespace).sort_values("strike")  # noqa: S307
    assert len(frame) == 5
    assert frame.iloc[:, 1].tolist() == pytest.approx(
        run.to_pandas().groupby("strike")["price"].mean().tolist()
    )
