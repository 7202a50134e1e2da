"""Summaries over replicates and plots of a run's results."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import SweepError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Overview", "choose_axes", "overview_text", "plot", "plot_overview", "summarize"]


@functools.lru_cache(maxsize=512)
def _t975(df: int) -> float:
    """The two-sided 95% Student t critical value t(0.975, df); NaN for df < 1."""
    if df < 1:
        return math.nan
    from scipy.stats import t  # type: ignore[import-untyped]  # scipy ships no py.typed

    return float(t.ppf(0.975, df))


def summarize(
    frame: pd.DataFrame,
    by: Sequence[str],
    metrics: Sequence[str],
) -> pd.DataFrame:
    """Aggregates replicates: per group of ``by``, each metric's mean, std, count and the
    half-width of its 95% confidence interval (Student t)."""
    missing = [c for c in [*by, *metrics] if c not in frame.columns]
    if missing:
        raise SweepError(
            f"unknown column(s) {', '.join(missing)}; columns: {', '.join(frame.columns)}"
        )
    grouped = frame.groupby(list(by), sort=True, dropna=False) if by else None
    parts = {}
    for m in metrics:
        stats: Any
        if grouped is not None:
            stats = grouped[m].agg(["mean", "std", "count"])
        else:
            stats = frame[m].agg(["mean", "std", "count"]).to_frame().T
        half = [
            _t975(int(n) - 1) * s / math.sqrt(n) if n > 1 else math.nan
            for s, n in zip(stats["std"], stats["count"], strict=True)
        ]
        stats["ci95"] = half
        for stat in ("mean", "std", "count", "ci95"):
            parts[f"{m}_{stat}"] = stats[stat]
    import pandas as pd

    out = pd.DataFrame(parts)
    return out.reset_index() if by else out.reset_index(drop=True)


def plot(
    frame: pd.DataFrame,
    x: str,
    y: str,
    hue: str | None = None,
    kind: str = "line",
    ax: Any = None,
) -> Any:
    """Plots metric ``y`` against parameter ``x``: a line per ``hue`` value with 95% CI error
    bars over replicates (``kind="line"``), or the mean of ``y`` over ``x`` by ``hue`` as a
    heatmap (``kind="heatmap"``). Returns the matplotlib Axes."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise SweepError(
            "plotting needs matplotlib: install the `[plot]` extra (pip install sweep_magic[plot])"
        ) from None
    by = [x] if hue is None else [hue, x]
    summary = summarize(frame, by, [y])
    if ax is None:
        _, ax = plt.subplots()
    if kind == "heatmap":
        if hue is None:
            raise SweepError("a heatmap needs hue= (the second axis)")
        grid = summary.pivot(index=hue, columns=x, values=f"{y}_mean")
        image = ax.imshow(grid.to_numpy(), aspect="auto", origin="lower")
        ax.set_xticks(range(len(grid.columns)), [f"{v:g}" for v in grid.columns])
        ax.set_yticks(range(len(grid.index)), [str(v) for v in grid.index])
        ax.figure.colorbar(image, ax=ax, label=f"mean {y}")
        ax.set_ylabel(hue)
    elif kind == "line":
        groups = [(None, summary)] if hue is None else list(summary.groupby(hue, sort=True))
        for key, part in groups:
            ax.errorbar(
                part[x],
                part[f"{y}_mean"],
                yerr=part[f"{y}_ci95"].fillna(0.0),
                marker="o",
                capsize=3,
                label=None if hue is None else f"{hue}={key!s}",
            )
        if hue is not None:
            ax.legend()
        ax.set_ylabel(y)
    else:
        raise SweepError(f"unknown plot kind {kind!r}; use 'line' or 'heatmap'")
    ax.set_xlabel(x)
    return ax


# -- the overview plot: a metric over the axes a run varies --------------------------------------

#: Facets drawn at most; a third axis with more values shows its first ones.
MAX_FACETS = 12


@dataclass(frozen=True)
class Overview:
    """A drawn overview: the matplotlib ``figure``, its ``kind`` (``histogram``, ``line``,
    ``heatmap``, ``facets`` or ``scatter``), the parameters on its axes in the order x, y,
    facet (``axes``), the ``metric``, the varied parameters it averages over, and how many
    result rows it was drawn from."""

    figure: Any
    kind: str
    axes: tuple[str, ...]
    metric: str
    averaged_over: tuple[str, ...]
    rows: int


def choose_axes(varied: Mapping[str, Sequence[Any] | None]) -> tuple[list[str], list[str]]:
    """Which varied parameters to plot, as x, y, facet: the ones with more values first (a
    sampled parameter, ``None``, counts as the most), ties in spec order; the rest beyond three
    are averaged over. Returns (plotted, averaged over)."""

    def size(name: str) -> float:
        values = varied[name]
        return math.inf if values is None else len(values)

    ranked = sorted(varied, key=lambda n: -size(n))
    return ranked[:3], ranked[3:]


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _ticks(ax: Any, which: str, labels: Sequence[Any]) -> None:
    """Tick labels for a heatmap axis, thinned to at most 10."""
    step = max(1, math.ceil(len(labels) / 10))
    positions = list(range(0, len(labels), step))
    texts = [_label(labels[i]) for i in positions]
    if which == "x":
        ax.set_xticks(positions, texts, rotation=45 if len(texts) > 5 else 0)
    else:
        ax.set_yticks(positions, texts)


def _grid(
    frame: pd.DataFrame, x: str, y: str, metric: str, xs: Sequence[Any], ys: Sequence[Any]
) -> Any:
    """Means of ``metric`` on the (y, x) grid of the given values; NaN where no row is yet."""
    import numpy as np

    mean = f"{metric}_mean"
    if frame.empty:
        return np.full((len(ys), len(xs)), np.nan)
    table = summarize(frame, [y, x], [metric]).pivot(index=y, columns=x, values=mean)
    return table.reindex(index=list(ys), columns=list(xs)).to_numpy(dtype=float)


def _heatmap(
    ax: Any,
    grid: Any,
    x: str,
    y: str,
    xs: Sequence[Any],
    ys: Sequence[Any],
    clim: tuple[float, float] | None,
) -> Any:
    import numpy as np
    from matplotlib import colormaps

    cmap = colormaps["viridis"].with_extremes(bad="#e8e8e8")
    image = ax.imshow(
        np.ma.masked_invalid(grid),
        aspect="auto",
        origin="lower",
        cmap=cmap,
        interpolation="nearest",
        vmin=None if clim is None else clim[0],
        vmax=None if clim is None else clim[1],
    )
    image.set_gid("heatmap")
    _ticks(ax, "x", xs)
    _ticks(ax, "y", ys)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    return image


def _clim(grids: Sequence[Any]) -> tuple[float, float] | None:
    import numpy as np

    finite = [g[np.isfinite(g)] for g in grids]
    values = np.concatenate(finite) if finite else np.array([])
    if values.size == 0:
        return None
    low, high = float(values.min()), float(values.max())
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def _is_numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _line(ax: Any, frame: pd.DataFrame, x: str, metric: str, xs: Sequence[Any] | None) -> None:
    """The replicate mean of ``metric`` over ``x`` with its 95% CI band."""
    mean, ci = f"{metric}_mean", f"{metric}_ci95"
    summary = summarize(frame, [x], [metric]) if not frame.empty else None
    numeric = _is_numeric(xs) if xs is not None else True
    order = {v: i for i, v in enumerate(xs or [])}

    def at(values: Any) -> list[Any]:
        """x positions: the values themselves, or their index among categories."""
        return list(values) if numeric else [order.get(v, math.nan) for v in values]

    if not numeric:
        ax.set_xticks(range(len(order)), [_label(v) for v in order])
    elif xs is not None and len(xs) > 1:
        low, high = min(xs), max(xs)
        pad = (high - low) * 0.03
        ax.set_xlim(low - pad, high + pad)
    if summary is not None and len(summary):
        summary = summary.sort_values(x) if numeric else summary
        ax.plot(at(summary[x]), summary[mean], marker="o", gid="mean", label="mean")
        has_ci = summary[ci].notna()
        if has_ci.any():
            part = summary[has_ci]
            ax.fill_between(
                at(part[x]),
                part[mean] - part[ci],
                part[mean] + part[ci],
                alpha=0.25,
                gid="ci95",
                label="95% CI",
            )
        ax.legend(loc="best", fontsize="small")
    ax.set_xlabel(x)
    ax.set_ylabel(metric)


def _histogram(ax: Any, frame: pd.DataFrame, metric: str) -> None:
    values = frame[metric].astype(float).dropna() if not frame.empty else None
    if values is None or values.empty:
        return
    ax.hist(values, bins=min(50, max(5, int(math.sqrt(len(values))))), color="#9ab")
    summary = summarize(frame, [], [metric]).iloc[0]
    mid, half = summary[f"{metric}_mean"], summary[f"{metric}_ci95"]
    ax.axvline(mid, color="C1", gid="mean", label="mean")
    if not math.isnan(half):
        ax.axvspan(mid - half, mid + half, color="C1", alpha=0.25, gid="ci95", label="95% CI")
    ax.legend(loc="best", fontsize="small")
    ax.set_xlabel(metric)
    ax.set_ylabel("rows")


def plot_overview(
    frame: pd.DataFrame,
    varied: Mapping[str, Sequence[Any] | None],
    metric: str,
    *,
    total_rows: int | None = None,
) -> Overview:
    """Draws ``metric`` against the parameters a run varies: with none, a histogram of the
    replicates; with one, the replicate mean as a line with its 95% CI band; with two, a
    heatmap of the means; with a third, one heatmap per value of it (facets, one colour
    scale); beyond three, averaged over the rest (see :func:`choose_axes`).

    ``varied`` maps each varied parameter, in spec order, to its values (so a heatmap keeps
    its shape while a run fills it in) or to None for a sampled parameter (drawn as a scatter
    where a grid would be). ``frame`` may hold part of a run's rows. Needs matplotlib; draws
    on a new Figure without pyplot, so it is safe off the main thread."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise SweepError(
            "plotting needs matplotlib: install the `[plot]` extra (pip install sweep_magic[plot])"
        ) from None
    if metric not in frame.columns:
        raise SweepError(f"unknown column(s) {metric}; columns: {', '.join(frame.columns)}")
    plotted, averaged = choose_axes(varied)
    values = {name: varied[name] for name in plotted}
    frame = frame.assign(**{metric: frame[metric].astype(float)})
    kind = {0: "histogram", 1: "line", 2: "heatmap", 3: "facets"}[len(plotted)]
    if kind in ("heatmap", "facets") and any(values[n] is None for n in plotted):
        kind = "scatter"
    facets: list[Any] = []
    if kind == "facets":
        facets = list(values[plotted[2]] or [])[:MAX_FACETS]
    columns = min(3, len(facets)) if facets else 1
    rows = math.ceil(len(facets) / columns) if facets else 1
    size = (3.4 * columns + 1.2, 2.8 * rows + 0.8) if facets else (6.4, 4.2)
    fig = Figure(figsize=size, layout="constrained")
    title = f"{metric}: mean over replicates"
    if total_rows is not None:
        title += f" ({len(frame):,} of {total_rows:,} rows)"
    if averaged:
        title += f"; averaged over {', '.join(averaged)}"
    fig.suptitle(title, fontsize="medium")
    if kind == "histogram":
        _histogram(fig.add_subplot(), frame, metric)
    elif kind == "line":
        _line(fig.add_subplot(), frame, plotted[0], metric, values[plotted[0]])
    elif kind == "scatter":
        ax = fig.add_subplot()
        x, y = plotted[0], plotted[1]
        if not frame.empty:
            summary = summarize(frame, [x, y], [metric])
            points = ax.scatter(summary[x], summary[y], c=summary[f"{metric}_mean"], gid="scatter")
            fig.colorbar(points, ax=ax, label=f"mean {metric}")
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        averaged = [*plotted[2:], *averaged]
        plotted = plotted[:2]
    else:
        x, y = plotted[0], plotted[1]
        xs, ys = values[x] or [], values[y] or []
        if kind == "heatmap":
            grids = [_grid(frame, x, y, metric, xs, ys)]
            panels = [fig.add_subplot()]
        else:
            z = plotted[2]
            grids = [_grid(frame[frame[z] == v], x, y, metric, xs, ys) for v in facets]
            panels = list(fig.subplots(rows, columns, squeeze=False).flat)
            for extra in panels[len(facets) :]:
                extra.set_axis_off()
            panels = panels[: len(facets)]
        clim = _clim(grids)
        image = None
        for i, (ax, grid) in enumerate(zip(panels, grids, strict=True)):
            image = _heatmap(ax, grid, x, y, xs, ys, clim)
            if kind == "facets":
                ax.set_title(f"{plotted[2]} = {_label(facets[i])}", fontsize="small")
                if i % columns:
                    ax.set_ylabel("")
        if image is not None:
            fig.colorbar(image, ax=panels, label=f"mean {metric}")
    return Overview(fig, kind, tuple(plotted), metric, tuple(averaged), len(frame))


def overview_text(
    frame: pd.DataFrame,
    varied: Mapping[str, Sequence[Any] | None],
    metric: str,
    *,
    total_rows: int | None = None,
    max_rows: int = 30,
) -> str:
    """The overview as text, for a terminal: the replicate mean (and 95% CI half-width with
    one plotted axis) of ``metric`` by the same axes :func:`plot_overview` would draw."""
    plotted, averaged = choose_axes(varied)
    rows = (
        f"{len(frame):,} of {total_rows:,} rows"
        if total_rows is not None
        else f"{len(frame):,} rows"
    )
    names = (
        ", ".join(plotted[:-1]) + " and " + plotted[-1] if len(plotted) > 1 else "".join(plotted)
    )
    by = f" by {names}" if plotted else ""
    what = "mean and 95% CI" if len(plotted) <= 1 else "mean"
    head = f"{metric}{by} ({what} over replicates; {rows})"
    if averaged:
        head += f", averaged over {', '.join(averaged)}"
    if frame.empty:
        return head + ": no rows yet"
    frame = frame.assign(**{metric: frame[metric].astype(float)})
    summary = summarize(frame, plotted, [metric])
    mean, ci = f"{metric}_mean", f"{metric}_ci95"
    if len(plotted) <= 1:
        table = summary[[*plotted, mean, ci]].rename(columns={mean: "mean", ci: "ci95"})
    else:
        table = summary.pivot_table(
            index=plotted[1:][::-1], columns=plotted[0], values=mean, dropna=False
        )
    import pandas as pd

    with pd.option_context("display.width", 120):
        body = table.to_string(
            float_format=lambda v: f"{v:.4g}",
            index=len(plotted) > 1,
            max_rows=max_rows,
            max_cols=12,
        )
    return f"{head}:\n{body}"
