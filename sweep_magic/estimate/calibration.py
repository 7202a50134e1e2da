"""Calibration: time a stratified sample of the sweep on one core here with the real engine and
writer, within a time limit, then spread the sampled row costs over every shard of the sweep."""

from __future__ import annotations

import math
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import _native
from ..errors import SweepError
from ..spec import Spec

__all__ = [
    "DEFAULT_TIME_LIMIT_S",
    "TIME_LIMIT_ENV",
    "Calibration",
    "calibrate",
    "shard_rows",
    "shard_work",
    "time_limit_from_env",
]


#: Hard limit of a calibration in seconds, unless ``time_limit_s`` or this variable says.
TIME_LIMIT_ENV = "SWEEP_ESTIMATE_TIME_LIMIT"
DEFAULT_TIME_LIMIT_S = 20.0
#: Below this many sampled rows (of a sweep with more points) the report says the estimate
#: rests on few samples.
FEW_SAMPLES = 10


def time_limit_from_env() -> float:
    """``SWEEP_ESTIMATE_TIME_LIMIT`` in seconds, or the default of 20 s."""
    raw = os.environ.get(TIME_LIMIT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIME_LIMIT_S
    try:
        value = float(raw)
    except ValueError:
        raise SweepError(f"{TIME_LIMIT_ENV}: expected seconds, got {raw!r}") from None
    if not value > 0:
        raise SweepError(f"{TIME_LIMIT_ENV}: must be more than 0 seconds, got {raw}")
    return value


@dataclass(frozen=True)
class Calibration:
    """What timing a sample of the sweep on one core here measured."""

    #: Points of the sweep that were computed (one row each), ascending.
    sample_points: list[int]
    #: Kernel seconds per sampled row (from the results' ``duration_us``).
    row_seconds: list[float]
    #: Mean kernel seconds per row (the finer in-memory timing when rows are sub-10 µs).
    mean_row_s: float
    #: Wall seconds of the sample run beyond its kernels, per shard: write and set-up.
    shard_overhead_s: float
    #: Wall seconds the calibration took.
    wall_s: float
    #: Whether the time limit stopped the calibration before the sample it meant to take.
    limited: bool = False
    #: The time limit it ran under, seconds.
    time_limit_s: float = DEFAULT_TIME_LIMIT_S
    #: Points of the sweep (every one of them timed means the sample is the whole sweep).
    points: int = 0

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

    @property
    def note(self) -> str | None:
        """A warning when the estimate rests on few sampled rows, else None."""
        n = len(self.sample_points)
        if n >= FEW_SAMPLES or n >= self.points:
            return None
        why = (
            f"the calibration stopped at its {self.time_limit_s:g} s limit"
            if self.limited
            else "the calibration budget allowed no more"
        )
        return (
            f"this estimate rests on only {n} sampled {'row' if n == 1 else 'rows'} (too few "
            f"to be firm: {why}); allow more with --time-limit S / --budget S "
            f"(or {TIME_LIMIT_ENV})"
        )


def _sample_points(points: int, k: int, seed: int) -> list[int]:
    """One uniformly random point in each of ``k`` equal strata of ``0 .. points``: covers the
    sweep evenly without aliasing with a grid axis the way a fixed stride can."""
    rng = random.Random(seed)  # noqa: S311 - a repeatable sample, not a secret
    k = max(1, min(k, points))
    return [lo + rng.randrange(max(1, hi - lo)) for lo, hi in _strata(points, k)]


def _strata(points: int, k: int) -> list[tuple[int, int]]:
    return [(j * points // k, (j + 1) * points // k) for j in range(k)]


def _spread_order(k: int) -> list[int]:
    """``0 .. k-1`` in an order whose every prefix is spread over the range (van der Corput:
    0, k/2, k/4, 3k/4, ...), so that a sample cut short by the time limit still covers the
    whole sweep rather than its first strata."""
    order: list[int] = []
    seen: set[int] = set()
    i = 0
    while len(order) < k:
        x, denominator, n = 0.0, 1.0, i
        while n:
            denominator *= 2
            x += (n % 2) / denominator
            n //= 2
        j = min(k - 1, int(x * k))
        if j not in seen:
            seen.add(j)
            order.append(j)
        i += 1
    return order


def _sample_spec(spec: Spec, points: list[int]) -> dict[str, Any]:
    """A spec computing exactly ``points`` of ``spec`` (once each, in this order), as one
    zipped axis, one point per shard (a shard cut short by cancelling keeps no row)."""
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
        "shard_size": 1,
        "zip": [columns],
    }


Progress = Callable[[str], None]


def _run_sample(
    folder: Path,
    run_id: str,
    *,
    started: float,
    budget_s: float,
    time_limit_s: float,
    min_samples: int,
    progress: Progress | None,
    label: str,
    total: int,
) -> tuple[float, bool]:
    """Runs the sample on one engine thread, cancelling it once ``budget_s`` is spent (with at
    least ``min_samples`` rows) or ``time_limit_s`` has passed since ``started``; returns its
    wall seconds and whether the time limit stopped it. The row in progress when it is
    stopped still finishes (a kernel cannot be interrupted mid-row)."""
    control = _native.RunControl()
    finished = threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            _native.run_local(str(folder), run_id, 1, control, None)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            failure.append(exc)
        finally:
            finished.set()

    t0 = time.perf_counter()
    thread = threading.Thread(target=work, name="sweep-estimate-calibration", daemon=True)
    thread.start()
    limited = False
    shown = t0
    try:
        while not finished.wait(0.05):
            now = time.perf_counter()
            done = control.shards_done
            if not control.cancelled:
                if now - started >= time_limit_s:
                    limited = True
                    control.cancel()
                elif now - t0 >= budget_s and done >= min_samples:
                    control.cancel()
            if progress is not None and now - shown >= 1.0:
                shown = now
                state = "finishing the row in progress" if control.cancelled else "timing rows"
                progress(
                    f"calibrating {label}: {done} of {total} sampled rows timed, "
                    f"{now - started:.0f} s of at most {time_limit_s:g} s ({state})"
                )
    finally:
        # The engine thread must end before the temporary folder goes (and before the
        # interpreter may exit): stop it, and wait for it even through a second Ctrl-C.
        control.cancel()
        while not finished.is_set():
            try:
                finished.wait(0.1)
            except KeyboardInterrupt:
                continue
    if failure:
        raise failure[0]
    return time.perf_counter() - t0, limited


def calibrate(
    spec: Spec,
    *,
    budget_s: float = 2.0,
    min_samples: int = 3,
    max_samples: int = 64,
    root: str | os.PathLike[str] | None = None,
    time_limit_s: float | None = None,
    progress: Progress | None = None,
) -> Calibration:
    """Times a sample of ``spec``'s points on one thread with the real engine and writer.

    Up to ``max_samples`` points, one per equal stratum of the point range, run as a run of
    one-point shards in a temporary folder (inside ``root`` if given, so the same disk is
    measured), which is removed afterwards. They run in an order that keeps any prefix spread
    over the range, and the run stops once ``budget_s`` seconds are spent with at least
    ``min_samples`` rows timed, or at ``time_limit_s`` (default ``SWEEP_ESTIMATE_TIME_LIMIT``
    or 20 s) whatever was timed by then; the row in progress at that moment still finishes.
    ``progress``, if given, receives a line about once a second.
    """
    import pyarrow.parquet as pq

    started = time.perf_counter()
    limit = time_limit_s if time_limit_s is not None else time_limit_from_env()
    if not limit > 0:
        raise SweepError(f"time_limit_s must be more than 0 seconds, got {limit}")
    text = spec.to_json()
    k = max(1, min(max_samples, spec.points))
    seed = int(spec.hash[:15], 16)
    strata_points = _sample_points(spec.points, k, seed)
    ordered = [strata_points[j] for j in _spread_order(len(strata_points))]
    sample = Spec(_sample_spec(spec, ordered), max_rows=spec.max_rows)
    if progress is not None:
        progress(
            f"calibrating {spec.experiment}: timing up to {len(ordered)} sampled rows on one "
            f"core (about {budget_s:g} s, at most {limit:g} s)"
        )

    parent = Path(root).expanduser().resolve() if root is not None else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="sweep-estimate-", dir=parent))
    try:
        run_id = _native.new_run_id(random.getrandbits(32))
        manifest = _native.create_run(str(folder), sample.to_json(), "json", run_id, spec.max_rows)
        wall, limited = _run_sample(
            folder,
            run_id,
            started=started,
            budget_s=budget_s,
            time_limit_s=limit,
            min_samples=min(min_samples, len(ordered)),
            progress=progress,
            label=spec.experiment,
            total=len(ordered),
        )
        by_point: dict[int, float] = {}
        keys = _native.run_keys(run_id, manifest["experiment"], manifest["plan"]["shards"])
        for table in ("results", "failures"):
            for f in sorted((folder / keys[table]).glob("*.parquet")):
                t = pq.read_table(f, columns=["point", "duration_us"]).to_pydict()
                for p, d in zip(t["point"], t["duration_us"], strict=True):
                    by_point[ordered[int(p)]] = float(d) / 1e6
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not by_point:
        raise SweepError(
            f"calibration timed no row of {spec.experiment} within its {limit:g} s limit"
        )
    points = sorted(by_point)
    row_seconds = [by_point[p] for p in points]
    kernel_total = sum(row_seconds)
    mean_row = kernel_total / len(points)
    if kernel_total < 0.01:
        # duration_us has 1 µs resolution: time many rows in memory instead.
        n = int(min(100_000, max(1000, budget_s / max(mean_row, 1e-7) / 4)))
        mean_row = _native.time_rows(text, "json", n)
        kernel_total = mean_row * len(points)
    return Calibration(
        sample_points=points,
        row_seconds=row_seconds,
        mean_row_s=mean_row,
        shard_overhead_s=max(0.0, wall - kernel_total) / len(points),
        wall_s=time.perf_counter() - started,
        limited=limited,
        time_limit_s=limit,
        points=spec.points,
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
