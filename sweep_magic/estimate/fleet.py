"""A small discrete-event simulation of jobs queued for a bounded fleet of workers: the
engine behind every backend model of the estimate (local threads, Ray tasks, Lambda
invocations with burst scaling and cold starts)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["FleetResult", "simulate_fleet"]


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
