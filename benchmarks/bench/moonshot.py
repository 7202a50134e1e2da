"""9. The moonshot figure: what ``sweep estimate`` predicts for a 10^6-point ``gbm_option``
sweep of about 3 CPU-hours (``strike`` x ``sigma``, 1000 x 1000, 1.5 million paths per point)
on AWS Lambda with the cloud defaults, with each assumption and where it comes from."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import sweep_magic as sm
from sweep_magic.estimate import CloudAssumptions

from .common import Section, Sizes, Target, log

WALL_GOAL_S = 60.0
COST_GOAL_USD = 1.0

SPEC: dict[str, Any] = {
    "experiment": "gbm_option",
    "seed": 1,
    "params": {
        "s0": 100,
        "strike": {"linspace": [50, 150, 1000]},
        "sigma": {"linspace": [0.05, 0.8, 1000]},
        "paths": 1_500_000,
    },
}

#: Where each cloud assumption comes from.
SOURCES = {
    "account_concurrency": "AWS Lambda quotas: 1,000 concurrent executions per Region by default",
    "burst_environments": "AWS Lambda scaling: up to 1,000 new environments per function per 10 s",
    "burst_interval_s": "AWS Lambda scaling (the same page)",
    "cold_start_s": "assumed: typical init of a small Rust binary on provided.al2023 "
    "(100-300 ms); not measured here",
    "memory_mb": "the Terraform default; AWS: 1,769 MB is one full vCPU",
    "architecture": "the Terraform default (x86_64, what builds here)",
    "cpu_ratio": "assumed: a Lambda vCPU as fast as one core of this machine; not measured",
    "shards_per_invoke": "the orchestrator's default (`cloud_defaults()`)",
    "invoke_overhead_s": "assumed: one manifest GET from S3 per invocation",
    "shard_write_s": "assumed: three small S3 PUTs per shard (started, Parquet, done)",
    "dispatch_concurrency": "the orchestrator's default (`cloud_defaults()`)",
    "invoke_latency_s": "assumed: one asynchronous Invoke call in the same Region",
    "invokes_per_dispatcher": "the orchestrator's default (`cloud_defaults()`)",
    "submit_s": "assumed: API Gateway, validation and the manifest PUT",
    "puts_per_shard": "the worker's writes (docs/design.md)",
    "gets_per_invoke": "the worker's reads (docs/design.md)",
    "gb_second_usd": "AWS Lambda pricing, us-east-1 list price for the architecture",
    "request_usd": "AWS Lambda pricing: USD 0.20 per million requests",
    "s3_put_usd": "Amazon S3 pricing: USD 0.005 per 1,000 PUT requests",
    "s3_get_usd": "Amazon S3 pricing: USD 0.0004 per 1,000 GET requests",
}


def run(sz: Sizes) -> dict[str, Any]:
    spec = sm.Spec(SPEC)
    log(f"moonshot: sweep estimate of {spec.points:,} points (calibration here)")
    est = sm.estimate(spec, time_limit_s=60.0)
    cloud = est.backend("cloud")
    local = est.backend("local")
    cal = est.calibration
    assumptions = CloudAssumptions()
    return {
        "points": spec.points,
        "paths": SPEC["params"]["paths"],
        "samples": len(cal.sample_points),
        "mean_row_s": cal.mean_row_s,
        "cpu_hours": cal.mean_row_s * spec.rows / 3600,
        "cloud": {
            "wall_s": cloud.wall_s,
            "cost_usd": cloud.cost_usd,
            "workers": cloud.workers,
            "details": cloud.details,
            "notes": cloud.notes,
        },
        "local": {"wall_s": local.wall_s, "workers": local.workers},
        "assumptions": {
            f.name: getattr(assumptions, f.name) for f in fields(assumptions) if f.name in SOURCES
        },
        "price_gb_second": assumptions.price_gb_second,
    }


def _duration(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


def section(m: dict[str, Any]) -> Section:
    c = m["cloud"]
    d = c["details"]
    cost = c["cost_usd"] or 0.0
    lines = [
        "## The moonshot figure: 10^6 points on Lambda",
        "",
        f"`sweep estimate` for `gbm_option` over `strike` x `sigma`, 1000 x 1000 points, "
        f"{m['paths']:,} paths each, with the cloud defaults. The calibration timed "
        f"{m['samples']} rows here: {m['mean_row_s'] * 1e3:.1f} ms per row, so "
        f"{m['cpu_hours']:.2f} CPU-hours in all (on `local` with {m['local']['workers']} "
        f"cores: {_duration(m['local']['wall_s'])}).",
        "",
        "| | predicted |",
        "|---|---:|",
        f"| wall time, submit to last shard | {_duration(c['wall_s'])} |",
        f"| cost | USD {cost:.2f} (compute {d.get('compute_usd', 0):.2f}, requests "
        f"{d.get('requests_usd', 0):.3f}, S3 {d.get('s3_usd', 0):.3f}) |",
        f"| plan | {d.get('shards', '?'):,} shards of {d.get('shard_size', '?')} rows, "
        f"{d.get('invocations', 0):,} invocations, {d.get('dispatchers', 1)} dispatchers |"
        if isinstance(d.get("shards"), int)
        else f"| plan | {d.get('invocations', 0):,} invocations |",
        f"| peak concurrent environments | {c['workers']:,} |",
        f"| GB-seconds | {d.get('gb_seconds', 0):,.0f} |",
        "",
    ]
    if c["notes"]:
        lines += ["Notes of the estimate:", ""] + [f"- {n}" for n in c["notes"]] + [""]
    lines += [
        "Assumptions (`sweep_magic.estimate.CloudAssumptions`) and their sources:",
        "",
        "| assumption | value | source |",
        "|---|---|---|",
    ]
    for name, value in m["assumptions"].items():
        shown = m["price_gb_second"] if name == "gb_second_usd" and value is None else value
        text = f"{shown:.6g}" if isinstance(shown, float) else f"{shown}"
        lines.append(f"| `{name}` | {text} | {SOURCES[name]} |")
    lines += [
        "",
        "The figure is a model, not a measurement against AWS: the rows marked *assumed* are "
        "the ones a first deployment should measure (CloudWatch's init duration and billed "
        "duration; `sweep estimate --cpu-ratio`).",
        "",
    ]
    targets = [
        Target(
            "10^6-point gbm sweep (~3 CPU-hours) on Lambda, predicted wall",
            f"< {WALL_GOAL_S:.0f} s",
            _duration(c["wall_s"]),
            c["wall_s"] < WALL_GOAL_S,
            "" if c["wall_s"] < WALL_GOAL_S else f"{c['wall_s'] - WALL_GOAL_S:.0f} s over",
        ),
        Target(
            "the same sweep, predicted cost",
            f"< USD {COST_GOAL_USD:.0f}",
            f"USD {cost:.2f}",
            cost < COST_GOAL_USD,
            "" if cost < COST_GOAL_USD else f"USD {cost - COST_GOAL_USD:.2f} over",
        ),
    ]
    return lines, targets
