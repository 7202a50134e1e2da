"""The widget editor: a form built from an experiment's declarations that shows the point
count and a time estimate as you edit, flags invalid input in place, runs the sweep with a
live progress bar, and shows the spec as YAML to copy.

Everything a click does is also a method (``set``, ``run``), so notebooks and tests can drive
the same form programmatically.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from . import _native
from .errors import SweepError
from .estimate import quick_local_seconds
from .estimate.report import format_duration
from .experiments import Param, get_experiment
from .run import Run, run
from .spec import Spec

__all__ = ["SpecEditor", "editor", "to_yaml"]

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


class _ParamRow:
    def __init__(self, p: Param, widgets: Any, on_change: Callable[[Any], None]) -> None:
        self.param = p
        w = widgets
        self.mode = w.Dropdown(
            options=list(MODES) if p.type in ("float", "int") else ["constant", "list"],
            value="constant",
            layout=w.Layout(width="110px"),
        )
        default = p.default
        if p.choices:
            self.value: Any = w.Dropdown(options=list(p.choices), value=default or p.choices[0])
        elif p.type == "bool":
            self.value = w.Checkbox(value=bool(default))
        elif p.type == "int":
            self.value = w.IntText(value=int(default) if default is not None else 0)
        elif p.type == "float":
            self.value = w.FloatText(value=float(default) if default is not None else 0.0)
        else:
            self.value = w.Text(value=str(default or ""))
        self.list = w.Text(placeholder="comma-separated values")
        self.start = w.FloatText(description="from", layout=w.Layout(width="160px"))
        self.stop = w.FloatText(description="to", layout=w.Layout(width="160px"))
        self.n = w.BoundedIntText(
            value=5, min=1, max=10**9, description="n", layout=w.Layout(width="140px")
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

        self.experiment = get_experiment(experiment)
        self.root = root
        self.on_run = on_run
        self.last_run: Run | None = None
        self.spec: Spec | None = None
        #: Measured kernel seconds per row of the current spec, and the local backend's
        #: predicted wall seconds for it (None when the spec is invalid or untimed).
        self.seconds_per_row: float | None = None
        self.estimated_seconds: float | None = None
        self.rows = {p.name: _ParamRow(p, w, self._changed) for p in self.experiment.params}
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
        self.output = w.Output()
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
                self.output,
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
            f"{self.spec.points:,} points, {self.spec.rows:,} rows, " + self._estimate(self.spec)
        )

    def _estimate(self, spec: Spec) -> str:
        """Times a few rows of ``spec`` and predicts the local backend's wall time with the
        same model as ``sweep estimate`` (without its calibration run)."""
        self.seconds_per_row = self.estimated_seconds = None
        try:
            per_row = _native.time_rows(spec.to_json(), "json", 3)
        except SweepError:
            return "no time estimate"
        cores = os.cpu_count() or 1
        self.seconds_per_row = per_row
        self.estimated_seconds = quick_local_seconds(spec, per_row, cores=cores)
        return f"about {format_duration(self.estimated_seconds)} on {cores} cores"

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
        watcher = threading.Thread(target=self._watch, args=(handle,), daemon=True)
        watcher.start()
        if block:
            watcher.join()
        return handle

    def _watch(self, handle: Run) -> None:
        while not handle.done():
            self.progress.value = handle.status().shards_done
            time.sleep(0.2)
        try:
            handle.wait()
        except SweepError as exc:
            self.progress.bar_style = "danger"
            self.error.value = f"<span style='color:#b00'>{exc}</span>"
            return
        self.progress.value = handle.status().shards_done
        self.progress.bar_style = "success"
        # Set the Output widget's contents directly: `with output:` capture is tied to the
        # kernel's current request and is unreliable from this watcher thread.
        self.output.outputs = ()
        self.output.append_display_data(handle.to_pandas().head(20))


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
