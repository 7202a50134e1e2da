"""The result of an estimate: per-backend predictions, the report (text, HTML, JSON) and the
list of assumptions it prints."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import Any

from .assumptions import LAMBDA_MB_PER_VCPU, CloudAssumptions, LocalAssumptions, RayAssumptions
from .calibration import Calibration

__all__ = ["BackendEstimate", "Estimate", "describe_assumptions", "format_duration"]


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
                "time_limit_s": cal.time_limit_s,
                "limited": cal.limited,
                "note": cal.note,
            },
            "backends": [asdict(b) for b in self.backends],
            "assumptions": list(self.assumptions),
        }

    def _rows(self) -> list[tuple[str, str, str, str]]:
        return [
            (
                b.backend,
                format_duration(b.wall_s),
                "—" if b.cost_usd is None else f"${b.cost_usd:,.4f}",
                f"{b.workers:,}",
            )
            for b in self.backends
        ]

    def __str__(self) -> str:
        cal = self.calibration
        lines = [
            f"estimate for {self.experiment}: {self.points:,} points, {self.rows:,} rows, "
            f"{self.shards:,} shards of {self.shard_size:,} "
            + ("point" if self.shard_size == 1 else "points"),
            f"calibration: {len(cal.sample_points)} sampled rows on 1 core here, "
            f"mean {format_duration(cal.mean_row_s)}/row (p95 {format_duration(cal.p95_row_s)}, "
            f"cv {cal.cv:.2f}), took {format_duration(cal.wall_s)}",
            *([f"note: {cal.note}"] if cal.note else []),
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
            f"calibration: {len(cal.sample_points)} rows, "
            f"mean {e(format_duration(cal.mean_row_s))}/row"
            + (f"<br><b>note</b>: {e(cal.note)}" if cal.note else "")
            + "<table><tr><th>backend</th><th>wall time</th><th>cost</th><th>workers</th></tr>"
            f"{body}</table>"
            + (f"<p>notes:</p><ul>{notes}</ul>" if notes else "")
            + f"<details><summary>assumptions</summary><ul>{assumptions}</ul></details></div>"
        )


def format_duration(seconds: float) -> str:
    """``seconds`` in the unit that reads best: µs, ms, s, min or h."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def describe_assumptions(
    cores: int, cal: Calibration, la: LocalAssumptions, ra: RayAssumptions, ca: CloudAssumptions
) -> list[str]:
    """One line per assumption the models used, for the report."""
    shard_oh = la.shard_overhead_s if la.shard_overhead_s is not None else cal.shard_overhead_s
    per_node = ra.cores_per_node or cores
    return [
        "every row costs what the sampled row of its stratum cost on one core here "
        "(a piecewise-constant cost over the point range)",
        f"local: {cores} threads take shards in turn; perfect scaling per core; "
        f"{la.row_overhead_s * 1e6:.1f} µs engine overhead per row, "
        f"{format_duration(shard_oh)} per shard (write and marker; measured)",
        f"ray: {ra.nodes} nodes x {per_node} CPUs, {ra.tasks_per_cpu} tasks per CPU, "
        f"{format_duration(ra.task_overhead_s)} per task, {format_duration(ra.startup_s)} start-up"
        + (f", ${ra.node_hour_usd}/node-hour" if ra.node_hour_usd is not None else ", not priced"),
        f"cloud: AWS Lambda {ca.architecture}, {ca.memory_mb} MB "
        f"({min(1.0, ca.memory_mb / LAMBDA_MB_PER_VCPU):.2f} vCPU, one worker thread), "
        f"a Lambda vCPU is {ca.cpu_ratio:g}x as slow as one core here",
        f"cloud: account concurrency {ca.account_concurrency:,}; scaling by "
        f"{ca.burst_environments:,} environments every {ca.burst_interval_s:g} s; "
        f"cold start {format_duration(ca.cold_start_s)} per new environment (billed)",
        f"cloud: {ca.shards_per_invoke} shards per invocation, "
        f"{format_duration(ca.invoke_overhead_s)} per invocation and "
        f"{format_duration(ca.shard_write_s)} per shard for S3 I/O; fan-out by "
        f"{ca.dispatch_concurrency} parallel Invoke calls of "
        f"{format_duration(ca.invoke_latency_s)} per dispatcher, one dispatcher per "
        f"{ca.invokes_per_dispatcher:,} invocations; {format_duration(ca.submit_s)} to submit",
        f"cloud prices: ${ca.price_gb_second:.10f}/GB-s, ${ca.request_usd * 1e6:.2f} per 1M "
        f"requests, S3 ${ca.s3_put_usd * 1000:.4f}/1k PUT, ${ca.s3_get_usd * 1000:.4f}/1k GET "
        "(us-east-1 list prices); billed per 1 ms; no free tier, no retries",
    ]
