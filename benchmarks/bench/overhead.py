"""2. Framework overhead: a trivial kernel (``diag_sleep``, 0 µs) end to end, Parquet
included, on the ``local`` and ``ray`` backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sweep_magic as sm

from .common import (
    CORES,
    Section,
    Sizes,
    Target,
    fmt_s,
    load,
    log,
    median,
    pyplot,
    ray_init,
    run_wall,
)

US_PER_POINT = 1.0  # `local`: at most this many µs per point (10^6 points/s)


def trivial_spec(points: int) -> sm.Spec:
    return sm.Spec(
        {
            "experiment": "diag_sleep",
            "name": "bench-overhead",
            "sample": {"method": "random", "n": points, "params": {"micros": {"choice": [0]}}},
        },
    )


def run(sz: Sizes, tmp: Path) -> dict[str, Any]:
    spec = trivial_spec(sz.overhead_points)
    out: dict[str, Any] = {"points": spec.points, "shards": spec.shards, "load_before": load()}
    for backend in ("local", "ray"):
        log(f"overhead: {backend}")
        if backend == "ray":
            out["ray_init_s"] = ray_init()
            run_wall(trivial_spec(1000), "ray", tmp / "warm")  # warm Ray's workers
        walls = [
            run_wall(spec, backend, tmp / f"o-{backend}-{i}") for i in range(sz.overhead_repeats)
        ]
        out[backend] = {
            "wall_s": median(walls),
            "points_per_s": spec.points / median(walls),
            "us_per_point": median(walls) / spec.points * 1e6,
            "samples": walls,
        }
    out["load_after"] = load()
    return out


def section(o: dict[str, Any]) -> Section:
    lines = [
        "## Framework overhead",
        "",
        f"`diag_sleep` with `micros: 0` over {o['points']:,} points ({o['shards']} shards), end "
        "to end: spec validation, manifest, every row computed and written to Parquet, markers. "
        f"All cores. Ray's start-up ({fmt_s(o.get('ray_init_s', 0.0))}) is excluded; its "
        "workers were warmed by a small run.",
        "",
        "| backend | wall | points/s | per point |",
        "|---|---:|---:|---:|",
    ]
    for b in ("local", "ray"):
        r = o[b]
        lines.append(
            f"| {b} | {fmt_s(r['wall_s'])} | {r['points_per_s']:,.0f} | "
            f"{r['us_per_point']:.2f} µs |"
        )
    local = o["local"]
    ok = local["us_per_point"] <= US_PER_POINT
    target = Target(
        "`local` overhead per point (trivial kernel)",
        f"<= {US_PER_POINT:g} µs (>= 10^6 points/s)",
        f"{local['us_per_point']:.2f} µs ({local['points_per_s']:,.0f}/s)",
        ok,
        ""
        if ok
        else f"short by {local['us_per_point'] / US_PER_POINT:.2f}x; each row pays seed "
        "derivation, parameter decoding, the kernel call, Arrow buffering and Parquet encoding, "
        f"spread over only {CORES} cores on a machine shared with other work",
    )
    lines += ["", "![overhead](overhead.png)", ""]
    return lines, [target]


def plot(o: dict[str, Any], out: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar(
        ["local", "ray"], [o["local"]["points_per_s"], o["ray"]["points_per_s"]], color="#c0392b"
    )
    ax.axhline(1e6 / US_PER_POINT, ls="--", color="k", lw=1, label="target 10^6/s (local)")
    ax.set_ylabel("points per second")
    ax.set_title(f"Trivial kernel, {o['points']:,} points, end to end")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "overhead.png", dpi=110)
    plt.close(fig)
