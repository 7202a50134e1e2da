"""The widget editor starts from a valid form, says something useful about time, names an
unknown experiment in one line; runs show a live plot of a metric over the varied axes (a
line with its 95% CI band, a heatmap, or facets), in a notebook as a widget and in a plain
IPython shell as text."""

from __future__ import annotations

import io
import re
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

import sweep_magic as sm
from sweep_magic import _native

pytest.importorskip("ipywidgets", reason="the editor needs ipywidgets")

from sweep_magic.analysis import plot_overview, summarize
from sweep_magic.editor import SpecEditor, editor
from sweep_magic.live_plot import LivePlot, varied_axes

BUILT_IN = [e.name for e in sm.experiments() if e.origin == "built-in"]


def cell(ip: InteractiveShell, source: str) -> tuple[Any, str, Any]:
    with capture_output() as captured:
        result = ip.run_cell(source)
    shown = "".join(o.data.get("text/plain", "") for o in captured.outputs)
    return result, captured.stdout + captured.stderr + shown, captured


# -- 1. an unknown experiment ------------------------------------------------------------------


def test_an_unknown_experiment_in_the_editor_magic_is_one_line_with_a_suggestion(
    ip: InteractiveShell,
) -> None:
    result, out, _ = cell(ip, "%sweep editor gbm_optoin")
    err = result.error_in_exec
    assert isinstance(err, UsageError), out
    message = str(err)
    assert "\n" not in message
    assert "unknown experiment 'gbm_optoin'" in message
    assert "did you mean 'gbm_option'?" in message
    for name in BUILT_IN:
        assert name in message
    assert "Traceback" not in out
    # Nothing close: the known experiments, no suggestion.
    result, out, _ = cell(ip, "%sweep editor nope")
    assert isinstance(result.error_in_exec, UsageError), out
    assert "unknown experiment 'nope'" in str(result.error_in_exec)
    assert "did you mean" not in str(result.error_in_exec)
    assert "Traceback" not in out
    assert len(out.strip().splitlines()) == 1


def test_the_python_api_raises_a_key_error_that_is_also_a_sweep_error() -> None:
    with pytest.raises(KeyError) as info:
        editor("sirr")
    assert isinstance(info.value, sm.SweepError)
    assert str(info.value).startswith("unknown experiment 'sirr'; did you mean 'sir'?")


# -- 2. the form starts valid ------------------------------------------------------------------


def _assert_valid(ed: SpecEditor) -> None:
    assert ed.error.value == "", ed.error.value
    assert ed.spec is not None
    assert not ed.run_button.disabled


@pytest.mark.parametrize("name", BUILT_IN)
def test_the_editor_starts_valid_from_the_declared_defaults(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Validity only: a fixed row time spares timing ising2d rows at every mode switch.
    monkeypatch.setattr(_native, "time_rows", lambda text, fmt, n: 1e-3)
    ed = SpecEditor(name)
    _assert_valid(ed)
    experiment = sm.get_experiment(name)
    params = ed.spec_dict()["params"]
    for p in experiment.params:
        if not p.required:
            assert params[p.name] == p.default, p.name
    # Switching any numeric parameter to a list or a linspace keeps the form valid.
    for p in experiment.params:
        if p.type not in ("float", "int") or p.choices:
            continue
        for mode in ("list", "linspace"):
            ed.rows[p.name].mode.value = mode
            _assert_valid(ed)
            assert (ed.spec is not None and ed.spec.points > 1) or mode == "list"
        ed.rows[p.name].mode.value = "constant"
        _assert_valid(ed)


def test_the_starting_form_of_every_built_in_runs_without_failures(root: Path) -> None:
    for name in BUILT_IN:
        if name == "diag_fail":
            continue  # it fails half its rows by design (fail_rate defaults to 0.5)
        ed = SpecEditor(name, root=str(root))
        handle = ed.run(block=True)
        assert handle is not None
        status = handle.status()
        assert (status.rows_ok, status.rows_failed) == (1, 0), (name, handle.failures())


def test_a_python_experiment_with_bounds_starts_inside_them(root: Path) -> None:
    @sm.experiment(
        params={
            "x": sm.param(float, min=2, max=3),
            "n": sm.param(int, min=5),
            "k": sm.param(int, default=7, min=0, max=10),
            "m": sm.param(float, max=-4),
            "mode": sm.param(str, choices=["a", "b"]),
            "flag": bool,
        },
        metrics={"y": float},
        name="bounded_editor_kernel",
    )
    def bounded(x: float, n: int, k: int, m: float, mode: str, flag: bool, seed: int) -> Any:
        return {"y": x * n + k + m}

    ed = SpecEditor("bounded_editor_kernel", root=str(root))
    _assert_valid(ed)
    params = ed.spec_dict()["params"]
    assert params["k"] == 7  # the declared default
    assert 2 <= params["x"] <= 3
    assert params["n"] >= 5
    assert params["m"] <= -4
    assert params["mode"] == "a"
    for name in ("x", "n", "m"):
        for mode in ("list", "linspace"):
            ed.rows[name].mode.value = mode
            _assert_valid(ed)
        ed.rows[name].mode.value = "constant"
    handle = ed.run(block=True)
    assert handle is not None
    assert handle.status().rows_ok == 1


# -- 3. the time estimate ----------------------------------------------------------------------


def test_a_fast_kernel_gets_a_rate_and_an_upper_bound_not_zero_ms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_native, "time_rows", lambda text, fmt, n: 2e-7)
    ed = SpecEditor("diag_sleep")
    ed.set("replicates", 1000)
    info = ed.info.value
    assert "under 1 s" in info
    assert re.search(r"about [\d,]+ rows/s on \d+ cores?", info), info
    assert not re.search(r"\d ?(ms|µs)", info), info
    assert info.startswith("1 point, 1,000 rows, about ")
    # A slow spec still gets its duration.
    monkeypatch.setattr(_native, "time_rows", lambda text, fmt, n: 2.0)
    ed.set("replicates", 100)
    assert re.search(r"about [\d.]+ (s|min) on \d+ cores?", ed.info.value), ed.info.value


def test_the_real_estimate_of_a_quick_default_form_has_no_sub_second_unit() -> None:
    ed = SpecEditor("diag_sleep")
    assert not re.search(r"\d ?(ms|µs)", ed.info.value), ed.info.value
    assert "under 1 s" in ed.info.value


# -- 4. the plot builder -----------------------------------------------------------------------


def _run(params: dict[str, Any], replicates: int = 3, **extra: Any) -> sm.Run:
    spec = {
        "experiment": "gbm_option",
        "seed": 5,
        "replicates": replicates,
        "params": {"s0": 100, "paths": 2000, **params},
        **extra,
    }
    return sm.run(spec).wait()


def _gid(fig: Any, gid: str) -> list[Any]:
    return [a for a in fig.findobj() if getattr(a, "get_gid", lambda: None)() == gid]


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


@pytest.fixture(scope="module")
def mpl() -> Any:
    return pytest.importorskip("matplotlib", reason="plots need the [plot] extra")


def test_one_varied_axis_is_a_mean_line_with_its_ci_band(root: Path, mpl: Any) -> None:
    run = _run({"strike": [90, 100, 110], "sigma": 0.2})
    axes = varied_axes(run.spec)
    assert list(axes) == ["strike"]
    frame = run.to_pandas()
    ov = plot_overview(frame, axes, "price")
    assert (ov.kind, ov.axes, ov.metric) == ("line", ("strike",), "price")
    expected = summarize(frame, ["strike"], ["price"])
    (line,) = _gid(ov.figure, "mean")
    assert list(line.get_xdata()) == [90.0, 100.0, 110.0]
    assert list(line.get_ydata()) == pytest.approx(expected["price_mean"].tolist())
    (band,) = _gid(ov.figure, "ci95")
    ys = band.get_paths()[0].vertices[:, 1]
    lower = expected["price_mean"] - expected["price_ci95"]
    upper = expected["price_mean"] + expected["price_ci95"]
    assert ys.min() == pytest.approx(lower.min())
    assert ys.max() == pytest.approx(upper.max())
    assert (expected["price_ci95"] > 0).all()


def test_two_varied_axes_are_a_heatmap_of_the_means(root: Path, mpl: Any) -> None:
    run = _run({"strike": {"linspace": [90, 110, 3]}, "sigma": [0.1, 0.3]}, replicates=2)
    axes = varied_axes(run.spec)
    assert axes == {"strike": [90.0, 100.0, 110.0], "sigma": [0.1, 0.3]}
    frame = run.to_pandas()
    ov = plot_overview(frame, axes, "price")
    # The axis with more values runs along x.
    assert (ov.kind, ov.axes) == ("heatmap", ("strike", "sigma"))
    (image,) = _gid(ov.figure, "heatmap")
    grid = summarize(frame, ["sigma", "strike"], ["price"]).pivot(
        index="sigma", columns="strike", values="price_mean"
    )
    assert image.get_array().shape == (2, 3)
    assert image.get_array().ravel().tolist() == pytest.approx(grid.to_numpy().ravel().tolist())


def test_a_third_varied_axis_makes_facets(root: Path, mpl: Any) -> None:
    run = _run(
        {"strike": [90, 100, 110], "sigma": [0.1, 0.3], "maturity": [0.5, 1.0]}, replicates=2
    )
    frame = run.to_pandas()
    ov = plot_overview(frame, varied_axes(run.spec), "price")
    assert (ov.kind, ov.axes) == ("facets", ("strike", "sigma", "maturity"))
    images = _gid(ov.figure, "heatmap")
    assert len(images) == 2  # one heatmap per maturity
    titles = sorted(a.get_title() for a in ov.figure.axes if a.get_title())
    assert titles == ["maturity = 0.5", "maturity = 1"]
    # One colour scale for every facet.
    assert len({im.get_clim() for im in images}) == 1


def test_more_than_three_varied_axes_are_averaged_over_the_rest(root: Path, mpl: Any) -> None:
    run = _run(
        {"strike": [90, 110], "sigma": [0.1, 0.3], "maturity": [0.5, 1.0], "rate": [0.0, 0.02]},
        replicates=1,
    )
    ov = plot_overview(run.to_pandas(), varied_axes(run.spec), "price")
    assert ov.kind == "facets"
    assert ov.averaged_over == ("rate",)
    assert "averaged over rate" in ov.figure.get_suptitle()


def test_no_varied_axis_is_a_histogram_of_the_replicates(root: Path, mpl: Any) -> None:
    run = _run({"strike": 100, "sigma": 0.2}, replicates=6)
    ov = plot_overview(run.to_pandas(), varied_axes(run.spec), "price")
    assert (ov.kind, ov.axes) == ("histogram", ())
    assert _gid(ov.figure, "ci95")


def test_the_live_plot_switches_metric_and_fills_in_as_shards_complete(
    root: Path, mpl: Any
) -> None:
    spec = {
        "experiment": "diag_sleep",
        "replicates": 2,
        "params": {"micros": [150_000 + i for i in range(6)]},
    }
    handle = sm.run(spec, threads=1)
    live = LivePlot(handle, interval=0.0)
    assert list(live.metric.options) == [m.name for m in sm.get_experiment("diag_sleep").metrics]
    seen: list[int] = []
    deadline = time.monotonic() + 60
    while not handle.done() and time.monotonic() < deadline:
        if handle.status().shards_done >= 1 and live.refresh():
            seen.append(live.rows)
        time.sleep(0.02)
    handle.wait()
    if live.refresh():
        seen.append(live.rows)
    assert live.rows == 12
    assert any(0 < n < 12 for n in seen), seen  # a render before the run was complete
    assert live.renders == len(seen)
    assert "12 of 12 rows" in live.caption.value
    # The dropdown switches the metric: a new render of the same rows.
    first = bytes(live.image.value)
    other = next(m for m in live.metric.options if m != live.metric.value)
    live.metric.value = other
    assert live.overview is not None
    assert live.overview.metric == other
    assert live.renders == len(seen) + 1
    assert bytes(live.image.value) != first
    assert bytes(live.image.value).startswith(b"\x89PNG")


def test_the_timer_thread_draws_while_the_run_goes_and_once_at_the_end(
    root: Path, mpl: Any
) -> None:
    # The first draw in a process imports matplotlib: done first, so that the timer's draws
    # are not all after a short run.
    warm = LivePlot(sm.run({"experiment": "diag_sleep", "params": {"micros": 0}}).wait())
    assert warm.refresh()
    # 12 shards of 0.3 s each (a busy wait: wall time, whatever the load).
    spec = {"experiment": "diag_sleep", "params": {"micros": [300_000 + i for i in range(12)]}}
    handle = sm.run(spec, threads=1)
    live = LivePlot(handle, interval=0.05)
    live.start()
    handle.wait()
    live.stop()
    assert live.drawn[-1] == 12
    assert any(0 < n < 12 for n in live.drawn), live.drawn
    assert live.drawn == sorted(live.drawn)
    assert "12 of 12 rows" in live.caption.value


def test_the_editor_shows_the_live_plot_next_to_the_table(root: Path, mpl: Any) -> None:
    ed = SpecEditor("gbm_option", root=str(root))
    assert ed.live.widget.layout.display == "none"  # nothing to show before a run
    ed.set("strike", [90, 100, 110])
    ed.set("sigma", [0.1, 0.2])
    ed.set("replicates", 2)
    handle = ed.run(block=True)
    assert handle is not None
    assert ed.live.widget.layout.display != "none"
    assert ed.live.overview is not None
    assert (ed.live.overview.kind, ed.live.overview.axes) == ("heatmap", ("strike", "sigma"))
    assert ed.live.rows == 12
    assert bytes(ed.live.image.value).startswith(b"\x89PNG")
    assert ed.results.children == (ed.output, ed.live.widget)


# -- the %%sweep run hook ----------------------------------------------------------------------

RUN_CELL = """%%sweep run -o r
experiment: gbm_option
seed: 3
replicates: 2
params: {s0: 100, strike: [90, 100, 110], sigma: 0.2, paths: 2000}
"""


def test_a_run_cell_in_a_plain_shell_prints_the_plot_as_text(ip: InteractiveShell) -> None:
    result, out, _ = cell(ip, RUN_CELL)
    assert result.error_in_exec is None, out
    frame = summarize(ip.user_ns["r"].to_pandas(), ["strike"], ["price"])
    assert "price by strike (mean and 95% CI over replicates; 6 of 6 rows)" in out
    for strike, mean in zip(frame["strike"], frame["price_mean"], strict=True):
        assert re.search(rf"{strike:g}\s+{mean:.4g}", out), out
    assert "VBox" not in out  # no widget repr in a terminal


def _live_widgets(captured: Any) -> list[Any]:
    """The live-plot widgets among a cell's displayed outputs."""

    ids = [
        o.data["application/vnd.jupyter.widget-view+json"]["model_id"]
        for o in captured.outputs
        if "application/vnd.jupyter.widget-view+json" in o.data
    ]
    from ipywidgets.widgets.widget import _instances

    shown = [_instances[i] for i in ids if i in _instances]
    return [w for w in shown if "sweep-live" in getattr(w, "_dom_classes", ())]


def _hide_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_a_run_cell_in_a_notebook_kernel_shows_the_live_widget(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch, mpl: Any
) -> None:
    import ipywidgets

    # ipykernel's shell has a `kernel`: the sign that a front end renders widgets.
    monkeypatch.setattr(ip, "kernel", object(), raising=False)
    result, out, captured = cell(ip, RUN_CELL)
    assert result.error_in_exec is None, out
    lives = _live_widgets(captured)
    assert len(lives) == 1, out
    image = next(c for c in lives[0].children if isinstance(c, ipywidgets.Image))
    assert bytes(image.value).startswith(b"\x89PNG")
    assert "6 of 6 rows" in out or any("6 of 6 rows" in str(c) for c in lives[0].children)
    assert "mean and 95% CI" not in out  # the picture, not the text fallback


def test_without_matplotlib_the_plot_is_skipped_cleanly(
    ip: InteractiveShell, monkeypatch: pytest.MonkeyPatch, root: Path
) -> None:
    _hide_matplotlib(monkeypatch)
    monkeypatch.setattr(ip, "kernel", object(), raising=False)
    result, out, captured = cell(ip, RUN_CELL)
    assert result.error_in_exec is None, out
    assert "complete, 6 rows ok" in out
    assert _live_widgets(captured) == []
    assert "price by strike (mean and 95% CI over replicates; 6 of 6 rows)" in out
    # The editor still runs; its plot area says what to install.
    ed = SpecEditor("gbm_option", root=str(root))
    ed.set("strike", [90, 100])
    handle = ed.run(block=True)
    assert handle is not None
    assert len(handle.to_pandas()) == 2
    assert "[plot]" in ed.live.caption.value
    assert bytes(ed.live.image.value) == b""


def test_plot_overview_rejects_an_unknown_metric(mpl: Any) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [1.0, 2.0]})
    with pytest.raises(sm.SweepError, match="unknown column"):
        plot_overview(frame, {"x": [1.0, 2.0]}, "nope")
