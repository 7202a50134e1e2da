"""The backend models: each turns the per-shard kernel seconds of a sweep into the jobs its
backend would run, replays them with :func:`~sweep_magic.estimate.fleet.simulate_fleet`, and
prices the result; :func:`estimate` calibrates once and runs all three."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .. import _native
from ..backends.batching import ray_batches
from ..errors import SweepError
from ..spec import Spec
from .assumptions import LAMBDA_MB_PER_VCPU, CloudAssumptions, LocalAssumptions, RayAssumptions
from .calibration import Calibration, calibrate, shard_rows, shard_work
from .fleet import FleetResult, simulate_fleet
from .report import BackendEstimate, Estimate, describe_assumptions

__all__ = ["estimate", "quick_local_seconds"]


def _efficiency(jobs: Sequence[float], fleet: FleetResult, workers: int) -> float:
    return sum(jobs) / (fleet.makespan_s * workers) if fleet.makespan_s > 0 else 1.0


def _local_fleet(
    spec: Spec, work: Sequence[float], shard_overhead_s: float, cores: int, a: LocalAssumptions
) -> tuple[list[float], FleetResult]:
    """The local backend: ``cores`` threads, each taking the next shard; a shard costs its
    kernel seconds, the per-shard overhead and the engine's per-row overhead."""
    jobs = [
        w + shard_overhead_s + a.row_overhead_s * shard_rows(spec, s) for s, w in enumerate(work)
    ]
    return jobs, simulate_fleet(jobs, concurrency=cores, billing_granularity_s=0.0)


def quick_local_seconds(
    spec: Spec,
    seconds_per_row: float,
    *,
    cores: int | None = None,
    local: LocalAssumptions | None = None,
) -> float:
    """Wall seconds of ``spec`` on the local backend if every row costs ``seconds_per_row``:
    the same local model as :func:`estimate`, without its calibration run (so for quick,
    repeated use such as the editor). The per-shard overhead is ``local.shard_overhead_s``,
    or 0 when that is None (only a calibration measures it). ``cores``: default every core."""
    a = local or LocalAssumptions()
    n_cores = cores if cores is not None else (os.cpu_count() or 1)
    if n_cores < 1:
        raise SweepError(f"cores must be at least 1, got {n_cores}")
    work = [seconds_per_row * shard_rows(spec, s) for s in range(spec.shards)]
    overhead = a.shard_overhead_s if a.shard_overhead_s is not None else 0.0
    _, fleet = _local_fleet(spec, work, overhead, n_cores, a)
    return fleet.makespan_s


def _estimate_local(
    spec: Spec, work: list[float], cal: Calibration, cores: int, a: LocalAssumptions
) -> BackendEstimate:
    shard_overhead = a.shard_overhead_s if a.shard_overhead_s is not None else cal.shard_overhead_s
    jobs, fleet = _local_fleet(spec, work, shard_overhead, cores, a)
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
    shard_cost = [
        w + cal.shard_overhead_s + la.row_overhead_s * shard_rows(spec, s)
        for s, w in enumerate(work)
    ]
    # The backend's own batching: one Ray task per batch of shards.
    batches = ray_batches(list(range(len(shard_cost))), cpus, a.tasks_per_cpu)
    tasks = [sum(shard_cost[s] for s in batch) + a.task_overhead_s for batch in batches]
    n_tasks = len(tasks)
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


def _cloud_plan(spec: Spec, cal: Calibration, a: CloudAssumptions) -> tuple[Spec, str | None]:
    """The spec as the cloud runs it: unless the author chose a shard size, the orchestrator
    picks one (``shard_size: auto``) with the engine's rule, here fed the calibrated row time
    scaled to Lambda's speed and the account's concurrency."""
    if spec.shard_size_given and spec.normalized["shard_size"] != "auto":
        return spec, None
    shard_s, min_shard_s, workers = _native.cloud_shard_target(
        a.shards_per_invoke, a.account_concurrency
    )
    replicates = spec.rows // max(spec.points, 1)
    size, reason = _native.auto_shard_size(
        spec.points, replicates, cal.mean_row_s / a.speed, shard_s, min_shard_s, workers
    )
    sized = Spec({**spec.normalized, "shard_size": size}, max_rows=spec.rows)
    return sized, f"the cloud sizes shards itself: {reason}"


def _estimate_cloud(
    spec: Spec, work: list[float], a: CloudAssumptions, la: LocalAssumptions
) -> BackendEstimate:
    per = a.shards_per_invoke
    shard_s = [
        (w + la.row_overhead_s * shard_rows(spec, s)) / a.speed + a.shard_write_s
        for s, w in enumerate(work)
    ]
    invokes = [a.invoke_overhead_s + sum(shard_s[i : i + per]) for i in range(0, len(shard_s), per)]
    # Two-level fan-out: a run needing more than `invokes_per_dispatcher` invocations is split
    # among that many dispatchers, sent one after the other, each a (cold) orchestrator
    # invocation that then sends its workers `dispatch_concurrency` at a time.
    dispatchers = max(1, math.ceil(len(invokes) / a.invokes_per_dispatcher))
    fanout_s = dispatchers * a.invoke_latency_s + a.cold_start_s if dispatchers > 1 else 0.0
    fleet = simulate_fleet(
        invokes,
        concurrency=a.account_concurrency,
        burst=a.burst_environments,
        burst_interval_s=a.burst_interval_s,
        cold_start_s=a.cold_start_s,
        dispatch_interval_s=a.invoke_latency_s / (a.dispatch_concurrency * dispatchers),
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
        a.submit_s + fanout_s + fleet.makespan_s,
        compute + requests + s3,
        fleet.peak_concurrency,
        {
            "invocations": len(invokes),
            "dispatchers": dispatchers,
            "cold_starts": fleet.cold_starts,
            "gb_seconds": gb_s,
            "compute_usd": compute,
            "requests_usd": requests,
            "s3_usd": s3,
        },
        notes,
    )


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
    time_limit_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> Estimate:
    """Predicts the wall time and cost of running ``spec`` on ``local`` (``cores`` threads,
    default every core here), ``ray`` (``ray_nodes`` nodes) and ``cloud`` (AWS Lambda).

    Times a calibration sample of about ``budget_s`` seconds on one core here, stopped at
    ``time_limit_s`` (default ``SWEEP_ESTIMATE_TIME_LIMIT`` or 20 s; see
    :func:`~sweep_magic.estimate.calibrate`; ``root`` is where its temporary run goes,
    ``progress`` receives its progress lines), then simulates each fleet.
    """
    from ..run import _as_spec

    checked = _as_spec(spec)
    n_cores = cores if cores is not None else (os.cpu_count() or 1)
    if n_cores < 1:
        raise SweepError(f"cores must be at least 1, got {n_cores}")
    if ray_nodes < 1:
        raise SweepError(f"ray_nodes must be at least 1, got {ray_nodes}")
    ra = replace(ray or RayAssumptions(), nodes=ray_nodes)
    ca = cloud or CloudAssumptions()
    la = local or LocalAssumptions()
    cal = calibrate(
        checked, budget_s=budget_s, root=root, time_limit_s=time_limit_s, progress=progress
    )
    work = shard_work(checked, cal)
    cloud_spec, choice = _cloud_plan(checked, cal, ca)
    cloud_estimate = _estimate_cloud(
        cloud_spec, work if cloud_spec is checked else shard_work(cloud_spec, cal), ca, la
    )
    if choice is not None:
        cloud_estimate.details["shard_size"] = cloud_spec.shard_size
        cloud_estimate.details["shards"] = cloud_spec.shards
        cloud_estimate.notes.insert(0, choice)
    backends = [
        _estimate_local(checked, work, cal, n_cores, la),
        _estimate_ray(checked, work, cal, ra, n_cores, la),
        cloud_estimate,
    ]
    return Estimate(
        experiment=checked.experiment,
        points=checked.points,
        rows=checked.rows,
        shards=checked.shards,
        shard_size=checked.shard_size,
        calibration=cal,
        backends=backends,
        assumptions=describe_assumptions(n_cores, cal, la, ra, ca),
    )
