"""Summaries over replicates and plots of a run's results."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import SweepError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["plot", "summarize"]


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
