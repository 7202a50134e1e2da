"""A live plot of a run: one metric (chosen in a dropdown) against the parameters the run
varies, redrawn from the rows written so far while shards complete, and once more at the end.

The picture is :func:`sweep_magic.analysis.plot_overview` rendered to PNG in an
``ipywidgets.Image``, so it updates from a background thread while the kernel waits for the
run. ``%%sweep run`` shows it above its table and the widget editor beside its table. Where no
front end renders widgets (a plain IPython shell) or matplotlib is missing, the run ends with
the same overview as text instead.
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import io
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .analysis import Overview, overview_text, plot_overview
from .errors import SweepError

if TYPE_CHECKING:
    import pandas as pd

    from .handle import Run

__all__ = ["LivePlot", "plotting_available", "shown_while_running", "varied_axes"]

#: An axis with more values than this has no fixed grid: it is drawn like a sampled one.
MAX_GRID_VALUES = 1000
#: Metric types a plot can average.
_NUMERIC = ("float", "int", "bool")
_PLOT_HINT = "install the [plot] extra (matplotlib) for a live plot of the results"


def plotting_available() -> bool:
    """Whether matplotlib is installed (found without importing it: that takes a while)."""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


def _note(text: str) -> str:
    """Caption HTML for ``text``."""
    return f"<small>{html.escape(text)}</small>"


def _plain(value: Any) -> Any:
    item = getattr(value, "item", None)
    return item() if callable(item) else value


def varied_axes(spec: Mapping[str, Any]) -> dict[str, list[Any] | None]:
    """The parameters a (normalized) spec varies, in the engine's axis order, each with its
    values as the engine generates them, or None when it has no fixed grid (a sampled
    parameter, or more than :data:`MAX_GRID_VALUES` values). A ``zip`` group is one axis,
    named after its first parameter."""
    from .spec import Spec

    normalized = dict(spec)
    params: dict[str, Any] = dict(normalized.get("params") or {})
    groups: list[dict[str, Any]] = list(normalized.get("zip") or [])
    sample: dict[str, Any] = dict(normalized.get("sample") or {})
    try:
        first: dict[str, Any] | None = {
            str(k): _plain(v)
            for k, v in Spec(normalized).preview(1).iloc[0].to_dict().items()
            if k != "point"
        }
    except (SweepError, IndexError):
        first = None

    def axis(
        name: str, own: dict[str, Any], group: dict[str, Any] | None
    ) -> tuple[int, list[Any] | None]:
        """(number of values, values or None) of one axis, from a spec varying only it."""
        if first is None:
            form = own.get(name, (group or {}).get(name))
            if isinstance(form, list):
                return len(form), list(form)
            return MAX_GRID_VALUES + 1, None
        names = set(own) | set(group or {})
        mini: dict[str, Any] = {
            "experiment": normalized["experiment"],
            "params": {**{k: v for k, v in first.items() if k not in names}, **own},
        }
        if group:
            mini["zip"] = [group]
        if "kernel_sha256" in normalized:
            mini["kernel_sha256"] = normalized["kernel_sha256"]
        try:
            one = Spec(mini)
            if one.points > MAX_GRID_VALUES:
                return one.points, None
            return one.points, [_plain(v) for v in one.preview(one.points)[name]]
        except SweepError:
            return MAX_GRID_VALUES + 1, None

    out: dict[str, list[Any] | None] = {}
    for name, form in params.items():
        if isinstance(form, (list, dict)):
            count, values = axis(name, {name: form}, None)
            if count > 1:
                out[name] = values
    for group in groups:
        if group:
            name = next(iter(group))
            count, values = axis(name, {}, group)
            if count > 1:
                out[name] = values
    for name in sample.get("params") or {}:
        out[name] = None
    return out


def plot_metrics(experiment: str) -> list[str]:
    """The metrics of ``experiment`` a plot can show (numbers and booleans)."""
    from .experiments import get_experiment

    return [m.name for m in get_experiment(experiment).metrics if m.type in _NUMERIC]


def _rows_so_far(run: Run) -> pd.DataFrame:
    """The rows the run has written so far (``to_pandas`` waits for the end)."""
    frame: pd.DataFrame = run._read("results").to_pandas()
    return frame


def _png(overview: Overview) -> bytes:
    buf = io.BytesIO()
    overview.figure.savefig(buf, format="png", dpi=80)
    return buf.getvalue()


class LivePlot:
    """A widget showing one metric of a run against its varied parameters, redrawn as rows
    arrive: ``refresh()`` redraws if there are new rows, ``poll()`` does so at most every
    ``interval`` seconds and only when a shard completed, ``start()``/``stop()`` run ``poll``
    on a timer thread. The dropdown ``metric`` switches the metric."""

    def __init__(self, run: Run | None = None, *, metric: str | None = None, interval: float = 1.0):
        import ipywidgets as w

        self.interval = interval
        self.available = plotting_available()
        self.run: Run | None = None
        #: The run's varied parameters and their values (see :func:`varied_axes`).
        self.axes: dict[str, list[Any] | None] | None = None
        #: The last overview drawn, the rows it was drawn from, and how many draws so far.
        self.overview: Overview | None = None
        self.rows = 0
        self.renders = 0
        #: Rows behind each draw of the current run, in order.
        self.drawn: list[int] = []
        self.metric = w.Dropdown(description="metric", options=[], layout=w.Layout(width="260px"))
        self.caption = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.image.add_class("sweep-live-plot")
        self.widget = w.VBox([w.HBox([self.metric, self.caption]), self.image])
        self.widget.add_class("sweep-live")
        self._lock = threading.RLock()
        self._frame: pd.DataFrame | None = None
        self._last_draw = 0.0
        self._wait = interval
        self._shards_seen = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._quiet = False
        self.metric.observe(self._metric_changed, names="value")
        if run is not None:
            self.attach(run, metric=metric)

    def attach(self, run: Run, *, metric: str | None = None) -> None:
        """Shows ``run`` from now on (its first rows are drawn by the next refresh)."""
        self.stop(final=False)
        with self._lock:
            self.run = run
            self._frame = None
            self.overview = None
            self.rows = 0
            self.drawn = []
            self._shards_seen = -1
            self._last_draw = 0.0
            self._wait = self.interval
            self.image.value = b""
            names = plot_metrics(run.experiment)
            self._quiet = True
            try:
                self.metric.options = names
                self.metric.value = metric if metric in names else (names[0] if names else None)
            finally:
                self._quiet = False
            self.metric.disabled = not self.available
            if not self.available:
                self.caption.value = _note(_PLOT_HINT)
                return
            self.axes = None  # worked out at the first draw, off the caller's thread
            self.caption.value = _note("waiting for the first shard")

    def _metric_changed(self, _: Any = None) -> None:
        if self._quiet:
            return
        with self._lock:
            if self._frame is not None:
                self._draw(self._frame)

    def _draw(self, frame: pd.DataFrame) -> None:
        assert self.run is not None  # noqa: S101 - callers check; narrows the type for mypy
        if not self.metric.value:
            return
        started = time.monotonic()
        if self.axes is None:
            self.axes = varied_axes(self.run.spec)
        overview = plot_overview(
            frame, self.axes, self.metric.value, total_rows=self.run.plan["rows"]
        )
        png = _png(overview)
        self.overview = overview
        self.rows = len(frame)
        self.image.value = png
        self.renders += 1
        self.drawn.append(self.rows)
        self._last_draw = time.monotonic()
        # Keep it light: a slow draw is repeated less often.
        self._wait = max(self.interval, 2 * (self._last_draw - started))
        self.caption.value = _note(f"{self.rows:,} of {self.run.plan['rows']:,} rows")

    def refresh(self) -> bool:
        """Reads the rows written so far and redraws if there are new ones; whether it drew."""
        with self._lock:
            if self.run is None or not self.available:
                return False
            frame = _rows_so_far(self.run)
            if self.overview is not None and len(frame) == self.rows:
                return False
            self._frame = frame
            self._draw(frame)
            return True

    def poll(self) -> bool:
        """Redraws when a shard completed since the last draw and ``interval`` has passed."""
        if self.run is None or not self.available:
            return False
        if time.monotonic() - self._last_draw < self._wait:
            return False
        try:
            return self._draw_if_new(self.run.status().shards_done)
        except Exception as exc:  # noqa: BLE001 - a plot must never break the run it shows
            self.caption.value = _note(f"no plot: {exc}")
            return False

    def _draw_if_new(self, shards_done: int) -> bool:
        if shards_done == self._shards_seen or shards_done == 0:
            return False
        self._shards_seen = shards_done
        return self.refresh()

    def finish(self) -> None:
        """The final draw, once the run has ended: every row, and the run's state."""
        if self.run is None or not self.available:
            return
        with self._lock:
            try:
                self.refresh()
                status = self.run.status()
                note = "" if status.state == "complete" else f", {status.state}"
                if status.rows_failed:
                    note += f", {status.rows_failed:,} failed"
                total = self.run.plan["rows"]
                self.caption.value = _note(f"{self.rows:,} of {total:,} rows{note}")
            except Exception as exc:  # noqa: BLE001 - a plot must never break the run it shows
                self.caption.value = _note(f"no plot: {exc}")

    def start(self) -> None:
        """Polls on a timer thread until the run ends (then draws a last time) or ``stop()``."""
        if self.run is None or not self.available or self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, args=(self.run,), daemon=True)
        self._thread.start()

    def _loop(self, run: Run) -> None:
        # One status request per interval (for a cloud run, one API call): it tells both
        # whether the run still goes and whether a shard completed.
        try:
            while not self._stop.wait(self.interval):
                status = run.status()
                if status.state != "running":
                    break
                if time.monotonic() - self._last_draw >= self._wait:
                    self._draw_if_new(status.shards_done)
        except Exception as exc:  # noqa: BLE001 - a plot must never break the run it shows
            self.caption.value = _note(f"no plot: {exc}")
            return
        if not self._stop.is_set():
            self.finish()

    def stop(self, final: bool = True) -> None:
        """Stops the timer thread; ``final`` draws a last time."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()
        if final:
            self.finish()


def _widget_front_end(shell: Any) -> bool:
    """Whether a front end renders widgets: the shell is a kernel's (it has a ``kernel``)."""
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _print_text(run: Run) -> None:
    metrics = plot_metrics(run.experiment)
    if not metrics:
        return
    frame = _rows_so_far(run)
    if frame.empty:
        return
    text = overview_text(frame, varied_axes(run.spec), metrics[0], total_rows=run.plan["rows"])
    print(text)


@contextlib.contextmanager
def shown_while_running(run: Run, shell: Any = None) -> Iterator[LivePlot | None]:
    """Around waiting for ``run``: in a notebook (a kernel with widgets and matplotlib),
    displays a :class:`LivePlot` that fills in while the body waits and draws a last time at
    the end; elsewhere prints the overview as text at the end. Never raises for the plot."""
    live: LivePlot | None = None
    if _widget_front_end(shell) and plotting_available():
        try:
            from IPython.display import display

            live = LivePlot(run)
            display(live.widget)  # type: ignore[no-untyped-call,unused-ignore]
            live.start()
        except Exception:  # noqa: BLE001 - no plot rather than a failed run
            live = None
    try:
        yield live
    finally:
        try:
            if live is not None:
                live.stop()
            elif run.done():
                _print_text(run)
        except Exception:  # noqa: BLE001, S110 - the run's own outcome matters, not the plot's
            pass
