"""The widget editor: a form built from an experiment's declarations that shows the point
count and a time estimate as you edit, flags invalid input in place, runs the sweep with a
live progress bar, and shows the spec as YAML to copy.

The form starts valid: every parameter at its declared default, and a required number
without one at 1, 2, 3, ... in declaration order, moved inside its declared bounds. After a
run, a live plot of a metric against the varied parameters sits beside the result table
(:mod:`sweep_magic.live_plot`).

Everything a click does is also a method (``set``, ``run``), so notebooks and tests can drive
the same form programmatically.
"""

from __future__ import annotations

import difflib
import json
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from . import _native
from ._types import ParamEntry
from .config import load_config
from .errors import SweepError
from .estimate import quick_local_seconds
from .estimate.report import format_duration
from .experiments import Experiment, Param, experiments, get_experiment
from .live_plot import LivePlot
from .run import Run, run
from .spec import Spec

__all__ = ["SpecEditor", "UnknownExperimentError", "editor", "to_yaml"]

MODES = ("constant", "list", "linspace")


def to_yaml(spec: dict[str, Any]) -> str:
    """A spec as YAML, keys in the form's order; short lists of plain values stay on one line."""
    import yaml  # type: ignore[import-untyped,unused-ignore]

    text: str = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, allow_unicode=True)
    return text


def _parse_list(text: str, p: Param) -> list[Any]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    out: list[Any] = []
    for item in items:
        if p.type == "str":
            out.append(item)
        elif p.type == "bool":
            out.append(item.lower() in ("true", "1", "yes"))
        else:
            try:
                out.append(json.loads(item))
            except json.JSONDecodeError:
                out.append(item)  # the engine reports it with its path
    return out


class UnknownExperimentError(SweepError, KeyError):
    """No experiment of that name is registered. Also a ``KeyError`` (what
    :func:`sweep_magic.get_experiment` raises); its message is one line."""

    def __str__(self) -> str:
        return self.message


def _find_experiment(name: str) -> Experiment:
    """The experiment ``name``, or one line naming it, a close match and the known ones."""
    try:
        return get_experiment(name)
    except KeyError:
        known = [e.name for e in experiments()]
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        raise UnknownExperimentError(
            f"unknown experiment {name!r}; {hint}known: {', '.join(known)}"
        ) from None


def _inside(value: float, p: ParamEntry) -> bool:
    """Whether ``value`` lies within the declared bounds of ``p``."""
    low, high = p["min"], p["max"]
    if low is not None and (value < low or (p["min_exclusive"] and value == low)):
        return False
    return not (high is not None and (value > high or (p["max_exclusive"] and value == high)))


def _first_inside(candidates: list[float], p: ParamEntry, avoid: Any = None) -> Any:
    """The first candidate inside the bounds of ``p`` (as an int for an int parameter)."""
    for c in candidates:
        options = [math.floor(c), math.ceil(c)] if p["type"] == "int" else [c]
        for v in options:
            if math.isfinite(v) and _inside(v, p) and v != avoid:
                return int(v) if p["type"] == "int" else float(v)
    return None


def _start_value(p: ParamEntry, ordinal: int) -> Any:
    """Where the form starts ``p``: its declared default; else its first choice, false, or an
    empty string; a number without a default starts at ``ordinal`` (1, 2, 3, ... in
    declaration order, so two rates are not equal), moved inside the bounds if needed."""
    if p["default"] is not None:
        return p["default"]
    if p["choices"]:
        return p["choices"][0]
    if p["type"] == "bool":
        return False
    if p["type"] not in ("float", "int"):
        return ""
    low, high = p["min"], p["max"]
    candidates = [float(ordinal)]
    if low is not None and high is not None:
        candidates.append((low + high) / 2)
    if low is not None:
        candidates += [low, low + 1]
    if high is not None:
        candidates += [high, high - 1]
    found = _first_inside(candidates, p)
    if found is None:  # no number fits the bounds: the spec's error will say so
        found = low if low is not None else 0
    return int(found) if p["type"] == "int" else float(found)


def _other_value(value: Any, p: ParamEntry) -> Any:
    """A second valid value for a linspace from ``value`` (``value`` itself if none)."""
    if p["type"] == "int":
        candidates = [value + 4, value - 4, value + 1, value - 1]
    else:
        low, high = p["min"], p["max"]
        candidates = [value * 2 if value else 1.0, value + 1, value / 2, value - 1]
        candidates += [v for v in (low, high) if v is not None]
    found = _first_inside([float(c) for c in candidates], p, avoid=value)
    return value if found is None else found


def _count(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _describe_time(seconds: float, rows: int, cores: int) -> str:
    """The estimate in words: a duration from 1 s up; below that, the rate in rows/s and
    "under 1 s" (a sub-second figure would hide the run's fixed start-up cost)."""
    on = f"on {_count(cores, 'core', 'cores')}"
    if seconds >= 1:
        return f"about {format_duration(seconds)} {on}"
    if seconds <= 0:
        return f"under 1 s {on}"
    rate = float(f"{rows / seconds:.3g}")
    return f"about {rate:,.0f} rows/s {on}: under 1 s in total"


class _ParamRow:
    def __init__(
        self,
        p: Param,
        start: Any,
        second: Any,
        widgets: Any,
        on_change: Callable[[Any], None],
    ) -> None:
        self.param = p
        w = widgets
        self.mode = w.Dropdown(
            options=list(MODES) if p.type in ("float", "int") else ["constant", "list"],
            value="constant",
            layout=w.Layout(width="110px"),
        )
        if p.choices:
            self.value: Any = w.Dropdown(options=list(p.choices), value=start)
        elif p.type == "bool":
            self.value = w.Checkbox(value=bool(start))
        elif p.type == "int":
            self.value = w.IntText(value=int(start))
        elif p.type == "float":
            self.value = w.FloatText(value=float(start))
        else:
            self.value = w.Text(value=str(start))
        listed = str(start).lower() if isinstance(start, bool) else str(start)
        if p.type in ("float", "int") and second != start:
            listed = f"{start}, {second}"
        self.list = w.Text(value=listed, placeholder="comma-separated values")
        numeric = p.type in ("float", "int")
        self.start = w.FloatText(
            value=float(start) if numeric else 0.0,
            description="from",
            layout=w.Layout(width="160px"),
        )
        self.stop = w.FloatText(
            value=float(second) if numeric else 0.0,
            description="to",
            layout=w.Layout(width="160px"),
        )
        # An int linspace needs integral steps: 5 values 4 apart, or 2 values 1 apart.
        n = abs(int(second) - int(start)) + 1 if p.type == "int" else 5
        self.n = w.BoundedIntText(
            value=max(1, min(n, 5)),
            min=1,
            max=10**9,
            description="n",
            layout=w.Layout(width="140px"),
        )
        hint = p.bounds or (", ".join(p.choices) if p.choices else "")
        label = w.HTML(
            f"<b>{p.name}</b> <small>{p.type} {hint} {p.unit}</small>",
            layout=w.Layout(width="260px"),
        )
        self.box = w.HBox([label, self.mode, self.value])
        self._widgets = w
        for widget in (self.mode, self.value, self.list, self.start, self.stop, self.n):
            widget.observe(on_change, names="value")
        self.mode.observe(self._relayout, names="value")

    def _relayout(self, _: Any = None) -> None:
        parts = {
            "constant": [self.value],
            "list": [self.list],
            "linspace": [self.start, self.stop, self.n],
        }[self.mode.value]
        self.box.children = [self.box.children[0], self.mode, *parts]

    def spec_value(self) -> Any:
        mode = self.mode.value
        if mode == "constant":
            return self.value.value
        if mode == "list":
            return _parse_list(self.list.value, self.param)
        return {"linspace": [self.start.value, self.stop.value, self.n.value]}


class SpecEditor:
    """The editor's state and widgets; display it, or drive it with ``set`` and ``run``."""

    def __init__(
        self,
        experiment: str,
        root: str | None = None,
        on_run: Callable[[Run], None] | None = None,
    ) -> None:
        import ipywidgets as w

        self.experiment = _find_experiment(experiment)
        self.root = root
        self.on_run = on_run
        self.last_run: Run | None = None
        self.spec: Spec | None = None
        #: Measured kernel seconds per row of the current spec, and the local backend's
        #: predicted wall seconds for it (None when the spec is invalid or untimed).
        self.seconds_per_row: float | None = None
        self.estimated_seconds: float | None = None
        entries = next(e for e in _native.experiments() if e["name"] == self.experiment.name)
        self.rows: dict[str, _ParamRow] = {}
        ordinal = 0
        for p, entry in zip(self.experiment.params, entries["params"], strict=True):
            if entry["default"] is None and entry["type"] in ("float", "int"):
                ordinal += 1
            start = _start_value(entry, ordinal)
            second = _other_value(start, entry) if entry["type"] in ("float", "int") else start
            self.rows[p.name] = _ParamRow(p, start, second, w, self._changed)
        self.replicates = w.BoundedIntText(value=1, min=1, max=100_000, description="replicates")
        self.seed = w.BoundedIntText(value=0, min=0, max=2**62, description="seed")
        self.backend = w.Dropdown(options=["local", "ray"], value="local", description="backend")
        for widget in (self.replicates, self.seed):
            widget.observe(self._changed, names="value")
        self.info = w.HTML()
        self.error = w.HTML()
        self.yaml = w.Textarea(layout=w.Layout(width="100%", height="180px"))
        self.run_button = w.Button(description="Run", button_style="primary", icon="play")
        self.run_button.on_click(lambda _: self.run(block=False))
        self.progress = w.IntProgress(value=0, min=0, max=1, description="progress")
        # A wide table scrolls inside its box rather than pushing the plot out of view.
        self.output = w.Output(layout=w.Layout(flex="1 1 420px", min_width="0", overflow="auto"))
        #: The live plot of the last run, beside its table (hidden until a run starts); below
        #: it when the notebook is too narrow for both.
        self.live = LivePlot()
        self.live.widget.layout.flex = "0 1 auto"
        self.live.widget.layout.display = "none"
        self.results = w.HBox(
            [self.output, self.live.widget],
            layout=w.Layout(flex_flow="row wrap", align_items="flex-start", width="100%"),
        )
        self.widget = w.VBox(
            [
                w.HTML(f"<h4>{self.experiment.name}</h4><p>{self.experiment.description}</p>"),
                *[r.box for r in self.rows.values()],
                w.HBox([self.replicates, self.seed, self.backend]),
                self.info,
                self.error,
                w.HBox([self.run_button, self.progress]),
                w.HTML("<b>spec (YAML)</b>"),
                self.yaml,
                self.results,
            ]
        )
        self._changed()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def spec_dict(self) -> dict[str, Any]:
        """The spec the form currently describes."""
        return {
            "experiment": self.experiment.name,
            "seed": self.seed.value,
            "replicates": self.replicates.value,
            "params": {name: row.spec_value() for name, row in self.rows.items()},
        }

    def set(self, name: str, value: Any = None, *, mode: str | None = None, **kwargs: Any) -> None:
        """Sets parameter ``name`` as a user would: ``set("sigma", 0.2)``,
        ``set("sigma", [0.1, 0.2], mode="list")``,
        ``set("strike", mode="linspace", start=80, stop=120, n=5)``; or ``replicates``/``seed``."""
        if name in ("replicates", "seed"):
            getattr(self, name).value = value
            return
        row = self.rows.get(name)
        if row is None:
            raise SweepError(f"{self.experiment.name} has no parameter {name!r}")
        row.mode.value = mode or ("list" if isinstance(value, list) else "constant")
        if row.mode.value == "constant":
            row.value.value = value
        elif row.mode.value == "list":
            row.list.value = ", ".join(str(v) for v in value)
        else:
            row.start.value = kwargs["start"]
            row.stop.value = kwargs["stop"]
            row.n.value = kwargs["n"]

    def _changed(self, _: Any = None) -> None:
        spec = self.spec_dict()
        self.yaml.value = to_yaml(spec)
        try:
            self.spec = Spec(spec)
        except SweepError as exc:
            self.spec = None
            self.seconds_per_row = self.estimated_seconds = None
            self.error.value = f"<span style='color:#b00'>&#9888; {exc}</span>"
            self.info.value = ""
            self.run_button.disabled = True
            return
        self.error.value = ""
        self.run_button.disabled = False
        self.info.value = (
            f"{_count(self.spec.points, 'point', 'points')}, "
            f"{_count(self.spec.rows, 'row', 'rows')}, " + self._estimate(self.spec)
        )

    def _estimate(self, spec: Spec) -> str:
        """Times a few rows of ``spec`` and predicts the local backend's wall time with the
        same model as ``sweep estimate`` (without its calibration run)."""
        self.seconds_per_row = self.estimated_seconds = None
        try:
            per_row = _native.time_rows(spec.to_json(), "json", 3)
        except SweepError:
            return "no time estimate"
        cores = load_config().resolve_threads(None)  # the local backend's threads
        self.seconds_per_row = per_row
        self.estimated_seconds = quick_local_seconds(spec, per_row, cores=cores)
        return _describe_time(self.estimated_seconds, spec.rows, cores)

    def run(self, block: bool = True) -> Run | None:
        """Starts the sweep the form describes (what the Run button does)."""
        if self.spec is None:
            return None
        handle = run(self.spec, backend=self.backend.value, root=self.root)
        self.last_run = handle
        if self.on_run is not None:
            self.on_run(handle)
        self.progress.max = max(handle.plan["shards"], 1)
        self.progress.value = 0
        self.progress.bar_style = ""
        self.live.attach(handle)
        self.live.widget.layout.display = None
        watcher = threading.Thread(target=self._watch, args=(handle,), daemon=True)
        watcher.start()
        if block:
            watcher.join()
        return handle

    def _watch(self, handle: Run) -> None:
        while not handle.done():
            self.progress.value = handle.status().shards_done
            self.live.poll()  # redraws the plot when shards completed (at most every second)
            time.sleep(0.2)
        try:
            handle.wait()
        except SweepError as exc:
            self.progress.bar_style = "danger"
            self.error.value = f"<span style='color:#b00'>{exc}</span>"
            self.live.finish()
            return
        self.progress.value = handle.status().shards_done
        self.progress.bar_style = "success"
        # Set the Output widget's contents directly: `with output:` capture is tied to the
        # kernel's current request and is unreliable from this watcher thread.
        self.output.outputs = ()
        self.output.append_display_data(handle.to_pandas().head(20))
        self.live.finish()


def editor(
    experiment: str, root: str | None = None, on_run: Callable[[Run], None] | None = None
) -> SpecEditor:
    """An ipywidgets form for ``experiment``; display it in a notebook cell."""
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        raise SweepError(
            "the editor needs ipywidgets: install the `[jupyter]` extra "
            "(pip install sweep_magic[jupyter])"
        ) from None
    return SpecEditor(experiment, root=root, on_run=on_run)
