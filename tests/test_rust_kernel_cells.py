"""`%%sweep kernel` cells in a real IPython shell, as a user writes them: the kernel runs with
`%%sweep run`, the editor and `sm.run`; an unchanged cell is a cache hit; a changed one is a
new build; bad kernels are one clear error and write nothing."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from test_magics import cell  # the `ip` fixture (a real IPython shell) is in conftest
from test_rust_kernels import OU_BODY, kernel_cell, kernel_env  # noqa: F401 - shared setup

import sweep_magic as sm
from sweep_magic import _native, rust_kernels


def moments(values: pd.Series) -> tuple[float, float]:
    return float(values.mean()), float(values.var(ddof=1))


def ou_moments(theta: float, mu: float, sigma: float, x0: float, t: float) -> tuple[float, float]:
    """Closed-form mean and variance of X(t) of dX = theta (mu - X) dt + sigma dW."""
    mean = mu + (x0 - mu) * math.exp(-theta * t)
    var = sigma**2 * (1 - math.exp(-2 * theta * t)) / (2 * theta)
    return mean, var


OU_POINT = {"theta": 0.7, "mu": 1.5, "sigma": 0.8, "x0": -2.0, "t": 2.0}
OU_RUN = f"""%%sweep run -o r
experiment: ou_cell
seed: 11
replicates: 4000
params: {json.dumps(OU_POINT | {"steps": 20})}
"""


@pytest.mark.slow
def test_an_ou_cell_runs_and_matches_the_closed_form(
    ip: InteractiveShell,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    report: Callable[[str], None],
) -> None:
    result, out = kernel_cell(ip, "ou_cell", OU_BODY)
    assert result.error_in_exec is None, out
    sha = _native.kernel_library("ou_cell")[1]  # type: ignore[index]
    assert f"kernel ou_cell: sha256 {sha[:12]}, built in " in out
    assert sm.get_experiment("ou_cell").origin == "cell:ou_cell"

    result, out = cell(ip, OU_RUN)
    assert result.error_in_exec is None, out
    df = ip.user_ns["r"].to_pandas()
    assert len(df) == 4000
    # X(t) is exactly Gaussian with the closed-form moments (the transition is exact). Over N
    # independent rows the sample mean has standard error sd/sqrt(N) and the sample variance
    # var*sqrt(2/(N-1)); 4 standard errors leave a correct kernel a ~1e-4 chance of failing
    # (and the seed is fixed, so the verdict is stable), while a wrong transition is off by
    # far more.
    mean, var = moments(df["x_t"])
    want_mean, want_var = ou_moments(**OU_POINT)
    n = len(df)
    assert abs(mean - want_mean) < 4 * math.sqrt(want_var / n), (mean, want_mean)
    assert abs(var - want_var) < 4 * want_var * math.sqrt(2 / (n - 1)), (var, want_var)

    # Unchanged cell: the library from the cache, no cargo.
    def no_cargo(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("cargo ran for an unchanged cell")

    monkeypatch.setattr(rust_kernels, "_cargo_build", no_cargo)
    started = time.monotonic()
    result, out = kernel_cell(ip, "ou_cell", OU_BODY)
    hit = time.monotonic() - started
    assert result.error_in_exec is None, out
    assert out.strip() == f"kernel ou_cell: sha256 {sha[:12]}, cached"
    report(f"%%sweep kernel cache hit: {hit * 1000:.0f} ms")

    # The editor sees the kernel as soon as the cell ran.
    editor, out = cell(ip, "%sweep editor ou_cell")
    assert editor.error_in_exec is None, out
    ed = editor.result
    assert list(ed.rows) == ["theta", "mu", "sigma", "x0", "t", "steps"]
    ed.set("theta", [0.5, 1.0])
    ed.set("replicates", 3)
    run = ed.run(block=True)
    assert run is not None
    assert len(run.to_pandas()) == 6


@pytest.mark.slow
def test_a_changed_cell_is_a_new_build_and_old_runs_keep_theirs(
    ip: InteractiveShell,
    root: Path,
) -> None:
    spec = {"experiment": "ou_edit", "replicates": 2, "shard_size": 1, "params": {"t": [1, 2]}}
    result, out = kernel_cell(ip, "ou_edit", OU_BODY)
    assert result.error_in_exec is None, out
    first = sm.get_experiment("ou_edit").sha256
    before = sm.run(spec).wait()
    rows_before = before.to_pandas()

    changed = OU_BODY.replace("x = mu + (x - mu) * decay", "x = mu + (x - mu) * decay * 0.5")
    assert changed != OU_BODY
    result, out = kernel_cell(ip, "ou_edit", changed)
    assert result.error_in_exec is None, out
    assert "built in" in out
    second = sm.get_experiment("ou_edit").sha256
    assert second is not None
    assert second != first
    assert f"sha256 {second[:12]}" in out
    after = sm.run(spec).wait()
    assert after.manifest["kernel"]["sha256"] == second
    assert not rows_before["x_t"].equals(after.to_pandas()["x_t"])

    # The earlier run pinned its build: resuming it with the new one is refused...
    manifest = json.loads((before.run_dir / "manifest.json").read_text())
    assert manifest["kernel"]["sha256"] == first
    next(iter((before.run_dir / "shards").iterdir())).unlink()
    with pytest.raises(sm.SpecError, match="pins build") as info:
        sm.resume(before.run_id)
    assert info.value.path == "kernel_sha256"
    # ... and works once the cell is back to the source it ran with (a cache hit).
    result, out = kernel_cell(ip, "ou_edit", OU_BODY)
    assert out.strip().endswith("cached"), out
    resumed = sm.resume(before.run_id).wait()
    pd.testing.assert_frame_equal(
        resumed.to_pandas().drop(columns="duration_us"),
        rows_before.drop(columns="duration_us"),
    )


PANICS = """
fn params() -> Vec<Param> {
    vec![Param::float("x").range(0.0, 1.0)]
}

fn metrics() -> Vec<Metric> {
    vec![Metric::float("y")]
}

fn run(p: &Params, _seed: u64) -> Result<Vec<Value>, KernelError> {
    let x = p.f64("x");
    if x > 0.5 {
        panic!("x = {x} is too big");
    }
    Ok(vec![Value::from(2.0 * x)])
}
"""


@pytest.mark.slow
def test_a_panicking_kernel_fails_its_rows_and_the_run_completes(
    ip: InteractiveShell,
    root: Path,
) -> None:
    result, out = kernel_cell(ip, "panics", PANICS)
    assert result.error_in_exec is None, out
    assert sm.get_experiment("panics").description == ""
    result, out = cell(ip, "%%sweep run -o r\nexperiment: panics\nparams: {x: [0.25, 1.0]}\n")
    assert result.error_in_exec is None, out
    run = ip.user_ns["r"]
    assert run.status().state == "complete"
    assert run.to_pandas()["y"].tolist() == [0.5]
    failures = run.failures()
    assert failures["error_kind"].tolist() == ["panic"]
    assert failures["message"].tolist() == ["x = 1 is too big"]


def _assert_one_line_usage_error(result: Any, out: str, *needles: str) -> None:
    assert isinstance(result.error_in_exec, UsageError), out
    message = str(result.error_in_exec)
    assert "\n" not in message, message
    for needle in needles:
        assert needle in message, message
    assert "Traceback" not in out


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "body", "needles"),
    [
        (
            "seeded",
            OU_BODY.replace('Param::float("x0")', 'Param::float("seed")'),
            ["seed", "reserved"],
        ),
        ("gbm_option", OU_BODY, ["gbm_option", "built-in"]),
    ],
    ids=["reserved-column", "built-in-name"],
)
def test_a_kernel_the_registry_refuses_is_one_line(
    ip: InteractiveShell,
    root: Path,
    name: str,
    body: str,
    needles: list[str],
) -> None:
    result, out = kernel_cell(ip, name, body)
    _assert_one_line_usage_error(result, out, *needles)
    assert sm.get_experiment("gbm_option").origin == "built-in"
    assert not root.exists()


@pytest.mark.slow
def test_a_compile_error_shows_rustc_with_cell_lines(
    ip: InteractiveShell,
    root: Path,
) -> None:
    lines = PANICS.splitlines()
    bad_line = next(i for i, line in enumerate(lines) if "2.0 * x" in line) + 1
    lines[bad_line - 1] = lines[bad_line - 1].replace("2.0 * x", "2.0 * undefined_thing")
    result, out = kernel_cell(ip, "broken", "\n".join(lines))
    assert isinstance(result.error_in_exec, UsageError), out
    message = str(result.error_in_exec)
    first = message.splitlines()[0]
    assert first == "%%sweep kernel broken does not compile:"
    assert "error[E0425]: cannot find value `undefined_thing` in this scope" in message
    assert f"--> cell line {bad_line}:" in message
    assert f"{bad_line} |     Ok(vec![Value::from(2.0 * undefined_thing)])" in message
    assert "src/lib.rs" not in message
    assert "broken" not in {e.name for e in sm.experiments()}
    assert not root.exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("%sweep kernel", "give the kernel's NAME"),
        ("%sweep kernel ou_line", "is a cell magic"),
        ("%%sweep kernel OU\nfn run() {}\n", "kernel name 'OU' is not snake_case"),
        ("%%sweep kernel empty\n\n", "the cell is empty"),
    ],
)
def test_kernel_magic_mistakes_are_one_line(
    ip: InteractiveShell,
    source: str,
    message: str,
) -> None:
    result, out = cell(ip, source)
    _assert_one_line_usage_error(result, out, message)
