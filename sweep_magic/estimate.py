"""How long a sweep will take, and what it will cost, on ``local``, ``ray`` and ``cloud``.

:func:`estimate` times a small calibration sample of the sweep on this machine (the real
engine, writer and Parquet files, in a temporary root), then replays the whole run on a model
of each backend's fleet with a small discrete-event simulation (:func:`simulate_fleet`): shards
or invocations queue for a bounded number of workers; for AWS Lambda the bound grows by the
burst-scaling rule, new execution environments pay a cold start, and the bill is the sum of
each invocation's billed duration times its memory plus a per-request price. Every assumption
is a field of :class:`CloudAssumptions` / :class:`RayAssumptions` / :class:`LocalAssumptions`
with a documented default, and the report prints them. See ``docs/estimate.md``.
"""

from __future__ import annotations

import argparse
import heapq
import html
import json
import math
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from . import _native
from .errors import SpecError, SweepError
from .spec import Spec

__all__ = [
    "Calibration",
    "CloudAssumptions",
    "Estimate",
    "FleetResult",
    "LocalAssumptions",
    "RayAssumptions",
    "add_cli_parser",
    "calibrate",
    "cli_main",
    "estimate",
    "magic_main",
    "simulate_fleet",
]

# -- assumptions ---------------------------------------------------------------------------

#: Lambda prices in us-east-1 (https://aws.amazon.com/lambda/pricing/), USD.
LAMBDA_GB_SECOND_USD = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
#: S3 Standard request prices in us-east-1 (https://aws.amazon.com/s3/pricing/), USD.
S3_PUT_USD = 0.005 / 1000
S3_GET_USD = 0.0004 / 1000
#: Memory at which a Lambda function has one full vCPU (AWS Lambda developer guide).
LAMBDA_MB_PER_VCPU = 1769


@dataclass(frozen=True)
class LocalAssumptions:
    """The model of the ``local`` backend: ``threads`` workers taking the next shard in turn."""

    #: Engine cost per row besides the kernel (seeding, decoding, buffering), seconds.
    row_overhead_s: float = 1e-6
    #: Cost per shard (Parquet file, marker) in seconds; None = measured by the calibration.
    shard_overhead_s: float | None = None


@dataclass(frozen=True)
class RayAssumptions:
    """The model of the ``ray`` backend: a few batches of shards per CPU, one task each."""

    #: Nodes of the cluster.
    nodes: int = 4
    #: CPUs per node; None = as many as this machine has.
    cores_per_node: int | None = None
    #: Batches (tasks) per CPU, as the backend cuts them.
    tasks_per_cpu: int = 4
    #: Scheduling cost per task, seconds.
    task_overhead_s: float = 0.002
    #: Connecting / starting Ray and warming its worker processes, seconds.
    startup_s: float = 3.0
    #: Price of one node-hour in USD; None = not priced (your own machines).
    node_hour_usd: float | None = None


@dataclass(frozen=True)
class CloudAssumptions:
    """The model of the ``cloud`` backend on AWS Lambda. Defaults: us-east-1 list prices, the
    documented scaling rule and this project's orchestrator settings."""

    #: Account concurrency limit (AWS default quota per region: 1,000).
    account_concurrency: int = 1000
    #: Execution environments a function may add per scaling interval (AWS: 1,000).
    burst_environments: int = 1000
    #: The scaling interval, seconds (AWS: 10).
    burst_interval_s: float = 10.0
    #: Init duration of a new execution environment (Rust on provided.al2023), seconds.
    cold_start_s: float = 0.25
    #: Function memory, MB; CPU share is proportional to memory, 1 vCPU at 1,769 MB.
    memory_mb: int = 1769
    #: ``x86_64`` or ``arm64`` (prices differ).
    architecture: str = "x86_64"
    #: Seconds on a Lambda vCPU per second on one core of this machine.
    cpu_ratio: float = 1.0
    #: Shards named by one worker payload (the orchestrator's default; at most 64).
    shards_per_invoke: int = 8
    #: Per-invocation work besides shards: reading the manifest from S3, seconds.
    invoke_overhead_s: float = 0.05
    #: Per-shard writes to S3 (Parquet file, started and done markers), seconds.
    shard_write_s: float = 0.06
    #: Orchestrator's parallel Invoke calls and the latency of one, seconds.
    dispatch_concurrency: int = 64
    invoke_latency_s: float = 0.03
    #: Time to submit (API Gateway, validation, manifest) before fan-out starts, seconds.
    submit_s: float = 0.5
    #: S3 requests per shard (started marker, Parquet file, done marker) and per invocation
    #: (manifest read).
    puts_per_shard: int = 3
    gets_per_invoke: int = 1
    #: Prices (USD); None = the us-east-1 list price for ``architecture``.
    gb_second_usd: float | None = None
    request_usd: float = LAMBDA_REQUEST_USD
    s3_put_usd: float = S3_PUT_USD
    s3_get_usd: float = S3_GET_USD

    def __post_init__(self) -> None:
        if self.architecture not in LAMBDA_GB_SECOND_USD:
            raise SweepError(
                f"cloud architecture must be one of {sorted(LAMBDA_GB_SECOND_USD)}, "
                f"got {self.architecture!r}"
            )
        if not 128 <= self.memory_mb <= 10240:
            raise SweepError(f"Lambda memory must be 128 to 10240 MB, got {self.memory_mb}")
        if self.account_concurrency < 1 or self.burst_environments < 1:
            raise SweepError("concurrency and burst must be at least 1")
        if not 1 <= self.shards_per_invoke <= 64:
            raise SweepError(f"shards_per_invoke must be 1 to 64, got {self.shards_per_invoke}")

    @property
    def price_gb_second(self) -> float:
        """USD per GB-second for this architecture."""
        if self.gb_second_usd is not None:
            return self.gb_second_usd
        return LAMBDA_GB_SECOND_USD[self.architecture]

    @property
    def speed(self) -> float:
        """Work done per second on Lambda relative to one core here (single-threaded worker)."""
        return min(1.0, self.memory_mb / LAMBDA_MB_PER_VCPU) / self.cpu_ratio


# -- the fleet simulator ---------------------------------------------------------------------


@dataclass(frozen=True)
class FleetResult:
    """Outcome of one simulated fleet run."""

    #: From the first dispatch to the last job's end, seconds.
    makespan_s: float
    #: Jobs (shards, Ray tasks, or Lambda invocations).
    jobs: int
    #: New workers started (Lambda cold starts); 0 for fleets without cold starts.
    cold_starts: int
    #: Most jobs running at once.
    peak_concurrency: int
    #: Sum of job run times including cold starts, seconds.
    busy_s: float
    #: Sum of billed durations (each job rounded up to the billing granularity), seconds.
    billed_s: float


def simulate_fleet(
    durations: Sequence[float],
    *,
    concurrency: int,
    burst: int | None = None,
    burst_interval_s: float = 10.0,
    cold_start_s: float = 0.0,
    dispatch_interval_s: float = 0.0,
    billing_granularity_s: float = 0.001,
) -> FleetResult:
    """Discrete-event simulation of jobs queued (in order) for a fleet of workers.

    Job ``i`` becomes available at ``i * dispatch_interval_s`` and runs for ``durations[i]``
    seconds on a free worker. At most ``concurrency`` jobs run at once; with ``burst`` the
    limit at time ``t`` is ``min(concurrency, burst * (1 + floor(t / burst_interval_s)))``
    (Lambda's rule: a function scales by ``burst`` environments per interval). A job that
    finds no idle worker starts a new one and pays ``cold_start_s`` first; workers are reused
    once free. Billed time rounds each job (cold start included) up to the granularity.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    eps = 1e-9

    def limit(t: float) -> int:
        if burst is None:
            return concurrency
        return min(concurrency, burst * (1 + math.floor(t / burst_interval_s + eps)))

    n = len(durations)
    running: list[float] = []  # end times
    idle = 0
    workers = 0
    peak = 0
    busy = 0.0
    billed = 0.0
    makespan = 0.0
    i = 0
    t = 0.0
    while i < n or running:
        while running and running[0] <= t + eps:
            heapq.heappop(running)
            idle += 1
        cap = limit(t)
        while i < n and len(running) < cap and i * dispatch_interval_s <= t + eps:
            run_s = float(durations[i])
            if idle:
                idle -= 1
            else:
                workers += 1
                run_s += cold_start_s
            end = t + run_s
            heapq.heappush(running, end)
            makespan = max(makespan, end)
            busy += run_s
            if billing_granularity_s > 0:
                billed += math.ceil(run_s / billing_granularity_s - eps) * billing_granularity_s
            else:
                billed += run_s
            i += 1
        peak = max(peak, len(running))
        upcoming: list[float] = []
        if running:
            upcoming.append(running[0])
        if i < n:
            ready = i * dispatch_interval_s
            if ready > t + eps:
                upcoming.append(ready)
            if len(running) >= cap and burst is not None and cap < concurrency:
                step = (math.floor(t / burst_interval_s + eps) + 1) * burst_interval_s
                upcoming.append(step)
        if not upcoming:
            break
        t = max(t, min(upcoming))
    return FleetResult(
        makespan_s=makespan,
        jobs=n,
        cold_starts=workers if cold_start_s > 0 else 0,
        peak_concurrency=peak,
        busy_s=busy,
        billed_s=billed,
    )


# -- calibration -----------------------------------------------------------------------------


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
    rng = random.Random(seed)
    k = max(1, min(k, points))
    return [lo + rng.randrange(max(1, hi - lo)) for lo, hi in _strata(points, k)]


def _strata(points: int, k: int) -> list[tuple[int, int]]:
    return [(j * points // k, (j + 1) * points // k) for j in range(k)]


def _sample_spec(spec: Spec, points: list[int]) -> dict[str, Any]:
    """A spec computing exactly ``points`` of ``spec`` (once each), as one zipped axis."""
    text = spec.to_json()
    columns: dict[str, list[Any]] = {}
    for p in points:
        (row,) = json.loads(_native.preview_points(text, "json", p, 1, spec.max_points))
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
    sample = Spec(_sample_spec(spec, points), max_points=spec.max_points)

    parent = Path(root).expanduser().resolve() if root is not None else None
    if parent is not None:
        parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="sweep-estimate-", dir=parent))
    try:
        run_id = _native.new_run_id(random.getrandbits(32))
        manifest = json.loads(
            _native.create_run(str(folder), sample.to_json(), "json", run_id, spec.max_points)
        )
        t0 = time.perf_counter()
        _native.run_local(str(folder), run_id, 1, _native.RunControl(), None)
        wall = time.perf_counter() - t0
        by_point: dict[int, float] = {}
        for table in ("results", "failures"):
            part = folder / table / manifest["experiment"] / f"run_id={run_id}"
            for f in sorted(part.glob("part-*.parquet")):
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


def _shard_work(spec: Spec, cal: Calibration) -> list[float]:
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


# -- the estimate ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BackendEstimate:
    """Predicted wall time and cost of one backend."""

    backend: str
    wall_s: float
    #: USD; None when not priced.
    cost_usd: float | None
    #: Workers (cores, CPUs or Lambda environments) at the peak.
    workers: int
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Estimate:
    """The result of :func:`estimate`: calibration, per-backend predictions, assumptions."""

    experiment: str
    points: int
    rows: int
    shards: int
    shard_size: int
    calibration: Calibration
    backends: list[BackendEstimate]
    assumptions: list[str]

    def backend(self, name: str) -> BackendEstimate:
        """The prediction for backend ``name``."""
        for b in self.backends:
            if b.backend == name:
                return b
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-able data."""
        cal = self.calibration
        return {
            "experiment": self.experiment,
            "points": self.points,
            "rows": self.rows,
            "shards": self.shards,
            "shard_size": self.shard_size,
            "calibration": {
                "samples": len(cal.sample_points),
                "mean_row_s": cal.mean_row_s,
                "p95_row_s": cal.p95_row_s,
                "cv": cal.cv,
                "shard_overhead_s": cal.shard_overhead_s,
                "wall_s": cal.wall_s,
            },
            "backends": [asdict(b) for b in self.backends],
            "assumptions": list(self.assumptions),
        }

    def _rows(self) -> list[tuple[str, str, str, str]]:
        return [
            (
                b.backend,
                _duration(b.wall_s),
                "—" if b.cost_usd is None else f"${b.cost_usd:,.4f}",
                f"{b.workers:,}",
            )
            for b in self.backends
        ]

    def __str__(self) -> str:
        cal = self.calibration
        lines = [
            f"estimate for {self.experiment}: {self.points:,} points, {self.rows:,} rows, "
            f"{self.shards:,} shards of {self.shard_size:,} points",
            f"calibration: {len(cal.sample_points)} sampled rows on 1 core here, "
            f"mean {_duration(cal.mean_row_s)}/row (p95 {_duration(cal.p95_row_s)}, "
            f"cv {cal.cv:.2f}), took {_duration(cal.wall_s)}",
            "",
            f"{'backend':<8} {'wall time':>12} {'cost':>12} {'workers':>9}",
        ]
        for name, wall, cost, workers in self._rows():
            lines.append(f"{name:<8} {wall:>12} {cost:>12} {workers:>9}")
        notes = [f"{b.backend}: {n}" for b in self.backends for n in b.notes]
        if notes:
            lines += ["", "notes:", *(f"  - {n}" for n in notes)]
        lines += ["", "assumptions:", *(f"  - {a}" for a in self.assumptions)]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        e = html.escape
        cal = self.calibration
        body = "".join(
            f"<tr><td>{e(a)}</td><td>{e(b)}</td><td>{e(c)}</td><td>{e(d)}</td></tr>"
            for a, b, c, d in self._rows()
        )
        notes = "".join(f"<li>{e(b.backend)}: {e(n)}</li>" for b in self.backends for n in b.notes)
        assumptions = "".join(f"<li>{e(a)}</li>" for a in self.assumptions)
        return (
            f"<div><b>estimate for {e(self.experiment)}</b>: {self.points:,} points, "
            f"{self.rows:,} rows, {self.shards:,} shards<br>"
            f"calibration: {len(cal.sample_points)} rows, mean {e(_duration(cal.mean_row_s))}/row"
            "<table><tr><th>backend</th><th>wall time</th><th>cost</th><th>workers</th></tr>"
            f"{body}</table>"
            + (f"<p>notes:</p><ul>{notes}</ul>" if notes else "")
            + f"<details><summary>assumptions</summary><ul>{assumptions}</ul></details></div>"
        )


def _duration(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _estimate_local(
    spec: Spec, work: list[float], cal: Calibration, cores: int, a: LocalAssumptions
) -> BackendEstimate:
    shard_overhead = a.shard_overhead_s if a.shard_overhead_s is not None else cal.shard_overhead_s
    reps = spec.rows // max(spec.points, 1)
    jobs = [
        w + shard_overhead + a.row_overhead_s * _shard_rows(spec, s, reps)
        for s, w in enumerate(work)
    ]
    fleet = simulate_fleet(jobs, concurrency=cores, billing_granularity_s=0.0)
    notes = []
    if spec.shards < cores:
        notes.append(f"only {spec.shards} shards for {cores} cores: a smaller shard_size helps")
    return BackendEstimate(
        "local",
        fleet.makespan_s,
        None,
        min(cores, spec.shards),
        {"threads": cores, "efficiency": _efficiency(jobs, fleet, cores)},
        notes,
    )


def _shard_rows(spec: Spec, shard: int, reps: int) -> int:
    lo = shard * spec.shard_size
    return max(0, min(spec.points, lo + spec.shard_size) - lo) * reps


def _efficiency(jobs: Sequence[float], fleet: FleetResult, workers: int) -> float:
    return sum(jobs) / (fleet.makespan_s * workers) if fleet.makespan_s > 0 else 1.0


def _estimate_ray(
    spec: Spec,
    work: list[float],
    cal: Calibration,
    a: RayAssumptions,
    local_cores: int,
    la: LocalAssumptions,
) -> BackendEstimate:
    per_node = a.cores_per_node or local_cores
    cpus = max(1, a.nodes * per_node)
    reps = spec.rows // max(spec.points, 1)
    shard_cost = [
        w + cal.shard_overhead_s + la.row_overhead_s * _shard_rows(spec, s, reps)
        for s, w in enumerate(work)
    ]
    n_tasks = max(1, min(len(shard_cost), cpus * a.tasks_per_cpu))
    tasks = [sum(shard_cost[i::n_tasks]) + a.task_overhead_s for i in range(n_tasks)]
    fleet = simulate_fleet(tasks, concurrency=cpus, billing_granularity_s=0.0)
    wall = a.startup_s + fleet.makespan_s
    cost = None if a.node_hour_usd is None else a.node_hour_usd * a.nodes * wall / 3600
    notes = []
    if n_tasks < cpus:
        notes.append(f"only {n_tasks} tasks for {cpus} CPUs: a smaller shard_size helps")
    return BackendEstimate(
        "ray",
        wall,
        cost,
        min(cpus, n_tasks),
        {"nodes": a.nodes, "cpus": cpus, "tasks": n_tasks},
        notes,
    )


def _estimate_cloud(
    spec: Spec, work: list[float], a: CloudAssumptions, la: LocalAssumptions
) -> BackendEstimate:
    per = a.shards_per_invoke
    reps = spec.rows // max(spec.points, 1)
    shard_s = [
        (w + la.row_overhead_s * _shard_rows(spec, s, reps)) / a.speed + a.shard_write_s
        for s, w in enumerate(work)
    ]
    invokes = [a.invoke_overhead_s + sum(shard_s[i : i + per]) for i in range(0, len(shard_s), per)]
    fleet = simulate_fleet(
        invokes,
        concurrency=a.account_concurrency,
        burst=a.burst_environments,
        burst_interval_s=a.burst_interval_s,
        cold_start_s=a.cold_start_s,
        dispatch_interval_s=a.invoke_latency_s / max(1, a.dispatch_concurrency),
        billing_granularity_s=0.001,
    )
    gb_s = fleet.billed_s * a.memory_mb / 1024
    compute = gb_s * a.price_gb_second
    requests = len(invokes) * a.request_usd
    s3 = spec.shards * a.puts_per_shard * a.s3_put_usd + len(invokes) * a.gets_per_invoke * (
        a.s3_get_usd
    )
    notes = []
    if len(invokes) < a.account_concurrency:
        notes.append(
            f"{len(invokes):,} invocations use {len(invokes):,} of {a.account_concurrency:,} "
            "concurrent environments: a smaller shard_size would use more"
        )
    if a.memory_mb < LAMBDA_MB_PER_VCPU:
        notes.append(
            f"{a.memory_mb} MB gives {a.memory_mb / LAMBDA_MB_PER_VCPU:.2f} vCPU: kernels run "
            "slower in proportion"
        )
    return BackendEstimate(
        "cloud",
        a.submit_s + fleet.makespan_s,
        compute + requests + s3,
        fleet.peak_concurrency,
        {
            "invocations": len(invokes),
            "cold_starts": fleet.cold_starts,
            "gb_seconds": gb_s,
            "compute_usd": compute,
            "requests_usd": requests,
            "s3_usd": s3,
        },
        notes,
    )


def _assumptions(
    cores: int, cal: Calibration, la: LocalAssumptions, ra: RayAssumptions, ca: CloudAssumptions
) -> list[str]:
    shard_oh = la.shard_overhead_s if la.shard_overhead_s is not None else cal.shard_overhead_s
    per_node = ra.cores_per_node or cores
    return [
        "every row costs what the sampled row of its stratum cost on one core here "
        "(a piecewise-constant cost over the point range)",
        f"local: {cores} threads take shards in turn; perfect scaling per core; "
        f"{la.row_overhead_s * 1e6:.1f} µs engine overhead per row, "
        f"{_duration(shard_oh)} per shard (write and marker; measured)",
        f"ray: {ra.nodes} nodes x {per_node} CPUs, {ra.tasks_per_cpu} tasks per CPU, "
        f"{_duration(ra.task_overhead_s)} per task, {_duration(ra.startup_s)} start-up"
        + (f", ${ra.node_hour_usd}/node-hour" if ra.node_hour_usd is not None else ", not priced"),
        f"cloud: AWS Lambda {ca.architecture}, {ca.memory_mb} MB "
        f"({min(1.0, ca.memory_mb / LAMBDA_MB_PER_VCPU):.2f} vCPU, one worker thread), "
        f"a Lambda vCPU is {ca.cpu_ratio:g}x as slow as one core here",
        f"cloud: account concurrency {ca.account_concurrency:,}; scaling by "
        f"{ca.burst_environments:,} environments every {ca.burst_interval_s:g} s; "
        f"cold start {_duration(ca.cold_start_s)} per new environment (billed)",
        f"cloud: {ca.shards_per_invoke} shards per invocation, {_duration(ca.invoke_overhead_s)} "
        f"per invocation and {_duration(ca.shard_write_s)} per shard for S3 I/O; fan-out by "
        f"{ca.dispatch_concurrency} parallel Invoke calls of {_duration(ca.invoke_latency_s)}; "
        f"{_duration(ca.submit_s)} to submit",
        f"cloud prices: ${ca.price_gb_second:.10f}/GB-s, ${ca.request_usd * 1e6:.2f} per 1M "
        f"requests, S3 ${ca.s3_put_usd * 1000:.4f}/1k PUT, ${ca.s3_get_usd * 1000:.4f}/1k GET "
        "(us-east-1 list prices); billed per 1 ms; no free tier, no retries",
    ]


def estimate(
    spec: Spec | Mapping[str, Any] | str | os.PathLike[str],
    *,
    cores: int | None = None,
    ray_nodes: int = 4,
    ray: RayAssumptions | None = None,
    cloud: CloudAssumptions | None = None,
    local: LocalAssumptions | None = None,
    root: str | os.PathLike[str] | None = None,
    budget_s: float = 2.0,
) -> Estimate:
    """Predicts the wall time and cost of running ``spec`` on ``local`` (``cores`` threads,
    default every core here), ``ray`` (``ray_nodes`` nodes) and ``cloud`` (AWS Lambda).

    Times a calibration sample of about ``budget_s`` seconds on one core here (see
    :func:`calibrate`; ``root`` is where its temporary run goes), then simulates each fleet.
    """
    from .run import _as_spec

    checked = _as_spec(spec)
    n_cores = cores if cores is not None else (os.cpu_count() or 1)
    if n_cores < 1:
        raise SweepError(f"cores must be at least 1, got {n_cores}")
    if ray_nodes < 1:
        raise SweepError(f"ray_nodes must be at least 1, got {ray_nodes}")
    ra = replace(ray or RayAssumptions(), nodes=ray_nodes)
    ca = cloud or CloudAssumptions()
    la = local or LocalAssumptions()
    cal = calibrate(checked, budget_s=budget_s, root=root)
    work = _shard_work(checked, cal)
    backends = [
        _estimate_local(checked, work, cal, n_cores, la),
        _estimate_ray(checked, work, cal, ra, n_cores, la),
        _estimate_cloud(checked, work, ca, la),
    ]
    return Estimate(
        experiment=checked.experiment,
        points=checked.points,
        rows=checked.rows,
        shards=checked.shards,
        shard_size=checked.shard_size,
        calibration=cal,
        backends=backends,
        assumptions=_assumptions(n_cores, cal, la, ra, ca),
    )


# -- command line and magic ------------------------------------------------------------------


def _add_options(p: argparse.ArgumentParser) -> None:
    d = CloudAssumptions()
    p.add_argument("--cores", type=int, default=None, help="local threads (default: all cores)")
    p.add_argument("--ray-nodes", type=int, default=4, help="Ray cluster nodes (default 4)")
    p.add_argument("--ray-cores", type=int, default=None, help="CPUs per Ray node (default: here)")
    p.add_argument("--node-hour-usd", type=float, default=None, help="price of a Ray node-hour")
    p.add_argument(
        "--concurrency",
        type=int,
        default=d.account_concurrency,
        help=f"Lambda account concurrency (default {d.account_concurrency})",
    )
    p.add_argument(
        "--memory-mb", type=int, default=d.memory_mb, help=f"Lambda memory (default {d.memory_mb})"
    )
    p.add_argument("--arch", choices=sorted(LAMBDA_GB_SECOND_USD), default=d.architecture)
    p.add_argument(
        "--cold-start",
        type=float,
        default=d.cold_start_s,
        help=f"cold start seconds (default {d.cold_start_s})",
    )
    p.add_argument(
        "--cpu-ratio",
        type=float,
        default=d.cpu_ratio,
        help="seconds on a Lambda vCPU per second on a core here (default 1)",
    )
    p.add_argument(
        "--shards-per-invoke",
        type=int,
        default=d.shards_per_invoke,
        help=f"shards per Lambda invocation (default {d.shards_per_invoke})",
    )
    p.add_argument(
        "--budget", type=float, default=2.0, help="seconds to spend calibrating (default 2)"
    )
    p.add_argument("--root", default=None, help="folder for the temporary calibration run")
    p.add_argument("--json", action="store_true", help="print the estimate as JSON")


def add_cli_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``sweep estimate SPEC`` to the ``sweep`` command's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "estimate",
        help="predict wall time and cost on local, ray and cloud from a calibration sample",
    )
    p.add_argument("spec", help="spec file (.yaml, .json or .toml)")
    _add_options(p)
    return p


def _from_args(spec: Spec, args: argparse.Namespace) -> Estimate:
    cloud = CloudAssumptions(
        account_concurrency=args.concurrency,
        memory_mb=args.memory_mb,
        architecture=args.arch,
        cold_start_s=args.cold_start,
        cpu_ratio=args.cpu_ratio,
        shards_per_invoke=args.shards_per_invoke,
    )
    ray = RayAssumptions(cores_per_node=args.ray_cores, node_hour_usd=args.node_hour_usd)
    return estimate(
        spec,
        cores=args.cores,
        ray_nodes=args.ray_nodes,
        ray=ray,
        cloud=cloud,
        root=args.root,
        budget_s=args.budget,
    )


def cli_main(args: argparse.Namespace) -> int:
    """Runs ``sweep estimate`` with parsed ``args``; prints the report (or JSON), returns 0.

    Raises :class:`SpecError` / :class:`SweepError` for the caller to turn into exit codes.
    """
    result = _from_args(Spec.from_file(args.spec), args)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result)
    return 0


class _MagicParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise SweepError(f"%sweep estimate: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if message:
            raise SweepError(message.strip())
        raise SweepError("%sweep estimate: see %sweep estimate -h")


def magic_main(line: str, cell: str | None = None) -> None:
    """``%sweep estimate -f SPEC [options]`` or ``%%sweep estimate [options]`` with the spec
    (YAML) as the cell body. Displays the report; errors are :class:`SweepError`."""
    import shlex

    parser = _MagicParser(prog="%sweep estimate", add_help=False)
    parser.add_argument("-f", "--file", default=None)
    parser.add_argument("spec", nargs="?", default=None)
    _add_options(parser)
    args = parser.parse_args(shlex.split(line))
    source = args.file or args.spec
    has_cell = cell is not None and cell.strip() != ""
    if source and has_cell:
        raise SweepError("%%sweep estimate: give the spec in the cell or with -f, not both")
    if source:
        spec = Spec.from_file(source)
    elif has_cell:
        assert cell is not None
        spec = Spec.from_text(cell, "yaml")
    else:
        raise SpecError("%sweep estimate: give a spec file (-f FILE) or the spec in the cell")
    result = _from_args(spec, args)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    try:
        from IPython.display import display
    except ImportError:
        print(result)
        return
    display(result)  # type: ignore[no-untyped-call]
