"""Calibration: time a stratified sample of the sweep on one core here with the real engine and
writer, then spread the sampled row costs over every shard of the sweep."""

from __future__ import annotations

import math
import os
import random
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _native
from ..spec import Spec

__all__ = ["Calibration", "calibrate", "shard_rows", "shard_work"]


@dataclass(frozen=True)
class Calibration:
    """What timing a sample of the sweep on one core here measured."""

    #: Points of the sweep that were computed (one row each).
    sample_points: list[int]
    #: Kernel seconds per sampled row (from the results' ``duration_us``).
    row_seconds: list[float]
    #: Mean kernel seconds per row (the finer in-memory timing when rows are sub-10 µs).
    mean_row_s: float
    #: Wall seconds of the sample run beyond its kernels: one shard's write and set-up.
    shard_overhead_s: float
    #: Wall seconds the calibration took.
    wall_s: float

    @property
    def p95_row_s(self) -> float:
        """95th percentile of the sampled row times."""
        rows = sorted(self.row_seconds)
        return rows[min(len(rows) - 1, math.ceil(0.95 * len(rows)) - 1)] if rows else 0.0

    @property
    def cv(self) -> float:
        """Coefficient of variation of the sampled row times (0 if fewer than 2)."""
        if len(self.row_seconds) < 2:
            return 0.0
        mean = statistics.fmean(self.row_seconds)
        return statistics.stdev(self.row_seconds) / mean if mean > 0 else 0.0


def _sample_points(points: int, k: int, seed: int) -> list[int]:
    """One uniformly random point in each of ``k`` equal strata of ``0 .. points``: covers the
    sweep evenly without aliasing with a grid axis the way a fixed stride can."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable sample, not a secret
    k = max(1, min(k, points))
    return [lo + rng.randrange(max(1, hi - lo)) for lo, hi in _strata(points, k)]


def _strata(points: int, k: int) -> list[tuple[int, int]]:
    return [(j * points // k, (j + 1) * points // k) for j in range(k)]


def _sample_spec(spec: Spec, points: list[int]) -> dict[str, Any]:
    """A spec computing exactly ``points`` of ``spec`` (once each), as one zipped axis."""
    text = spec.to_json()
    columns: dict[str, list[Any]] = {}
    for p in points:
        (row,) = _native.preview_points(text, "json", p, 1, spec.max_rows)
        row.pop("point")
        for name, value in row.items():
            columns.setdefault(name, []).append(value)
    return {
        "experiment": spec.experiment,
        "name": "estimate-calibration",
        "seed": spec.normalized["seed"],
        "shard_size": len(points),
        "zip": [columns],
    }


def calibrate(
    spec: Spec,
    *,
    budget_s: float = 2.0,
    min_samples: int = 3,
    max_samples: int = 64,
    root: str | os.PathLike[str] | None = None,
) -> Calibration:
    """Times a sample of ``spec``'s points on one thread with the real engine and writer.

    One row (point 0) is timed first, in memory; the sample size is then chosen to fit
    ``budget_s`` (between ``min_samples`` and ``max_samples``, at most the point count). The
    sampled points run as a one-shard run in a temporary folder (inside ``root`` if given, so
    the same disk is measured), which is removed afterwards.
    """
    import pyarrow.parquet as pq

    started = time.perf_counter()
    text = spec.to_json()
    probe = _native.time_rows(text, "json", 1)
    k = int(budget_s / probe) if probe > 0 else max_samples
    k = max(min_samples, min(max_samples, k, spec.points))
    k = min(k, spec.points)
    seed = int(spec.hash[:15], 16)
    points = _sample_points(spec.points, k, seed)
    sample = Spec(_sample_spec(spec, points), max_rows=spec.max_rows)

    parent = Path(root).expanduser().resolve() if root is not None else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="sweep-estimate-", dir=parent))
    try:
        run_id = _native.new_run_id(random.getrandbits(32))
        manifest = _native.create_run(str(folder), sample.to_json(), "json", run_id, spec.max_rows)
        t0 = time.perf_counter()
        _native.run_local(str(folder), run_id, 1, _native.RunControl(), None)
        wall = time.perf_counter() - t0
        by_point: dict[int, float] = {}
        keys = _native.run_keys(run_id, manifest["experiment"], manifest["plan"]["shards"])
        for table in ("results", "failures"):
            for f in sorted((folder / keys[table]).glob("*.parquet")):
                t = pq.read_table(f, columns=["point", "duration_us"]).to_pydict()
                for p, d in zip(t["point"], t["duration_us"], strict=True):
                    by_point[int(p)] = float(d) / 1e6
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    row_seconds = [by_point.get(j, 0.0) for j in range(len(points))]
    kernel_total = sum(row_seconds)
    mean_row = kernel_total / len(points)
    if kernel_total < 0.01:
        # duration_us has 1 µs resolution: time many rows in memory instead.
        n = int(min(100_000, max(1000, budget_s / max(probe, 1e-7) / 4)))
        mean_row = _native.time_rows(text, "json", n)
        kernel_total = mean_row * len(points)
    return Calibration(
        sample_points=points,
        row_seconds=row_seconds,
        mean_row_s=mean_row,
        shard_overhead_s=max(0.0, wall - kernel_total),
        wall_s=time.perf_counter() - started,
    )


def shard_work(spec: Spec, cal: Calibration) -> list[float]:
    """Kernel seconds of each shard on one core here: each point costs what the sample in
    its stratum cost (a piecewise-constant cost over the point range), times replicates."""
    points, size = spec.points, spec.shard_size
    reps = spec.rows // max(points, 1)
    strata = _strata(points, len(cal.sample_points))
    if cal.mean_row_s > 0 and sum(cal.row_seconds) > 0:
        scale = cal.mean_row_s / statistics.fmean(cal.row_seconds)
        costs = [c * scale for c in cal.row_seconds]
    else:
        costs = [cal.mean_row_s] * len(strata)
    out: list[float] = []
    j = 0
    for s in range(spec.shards):
        lo, hi = s * size, min(points, (s + 1) * size)
        total = 0.0
        while j < len(strata) and strata[j][1] <= lo:
            j += 1
        m = j
        while m < len(strata) and strata[m][0] < hi:
            a, b = max(lo, strata[m][0]), min(hi, strata[m][1])
            total += (b - a) * costs[m]
            m += 1
        out.append(total * reps)
    return out


def shard_rows(spec: Spec, shard: int) -> int:
    """Rows of shard ``shard`` of ``spec``: its points (the last shard may be short) times the
    replicates."""
    reps = spec.rows // max(spec.points, 1)
    lo = shard * spec.shard_size
    return max(0, min(spec.points, lo + spec.shard_size) - lo) * reps
