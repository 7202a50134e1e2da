"""4. Peers on the 1 ms sweep of the efficiency section: ProcessPoolExecutor with the NumPy
kernel (full sweep), Ray Tune grid search and Lithops' localhost executor (timed on an evenly
spread subset, extrapolated linearly)."""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from . import workers
from .common import CORES, Section, Sizes, Target, fmt_s, load, log, median, pyplot, ray_init

FASTER_THAN = 10  # sweep_magic `local` at least this many times faster than Ray Tune, Lithops

# key in the results, label in the table, label in the plot
RUNNERS = (
    ("sweep_magic_local", "sweep_magic `local`", "sweep_magic\nlocal"),
    ("sweep_magic_ray", "sweep_magic `ray`", "sweep_magic\nray"),
    ("processpool", "ProcessPoolExecutor + NumPy", "ProcessPool\n+NumPy"),
    ("ray_tune", "Ray Tune grid search + NumPy", "Ray Tune\n(extrap.)"),
    ("lithops", "Lithops localhost + NumPy", "Lithops\n(extrap.)"),
)


def sweep_points(side: int) -> list[tuple[float, float]]:
    strikes = np.linspace(80, 120, side)
    sigmas = np.linspace(0.1, 0.5, side)
    return [(float(k), float(s)) for k in strikes for s in sigmas]


def peer_processpool(points: list[tuple[float, float]], paths: int) -> float:
    args = [(k, s, paths, i) for i, (k, s) in enumerate(points)]
    t = time.perf_counter()
    with ProcessPoolExecutor(CORES) as pool:
        list(pool.map(workers.numpy_point, args, chunksize=max(1, len(args) // (CORES * 16))))
    return time.perf_counter() - t


def peer_tune(points: list[tuple[float, float]], paths: int, tmp: Path) -> float:
    from ray import tune

    ray_init()
    configs = [
        {"strike": k, "sigma": s, "paths": paths, "seed": i} for i, (k, s) in enumerate(points)
    ]
    t = time.perf_counter()
    tuner = tune.Tuner(
        tune.with_parameters(workers.tune_indexed, configs=configs),
        param_space={"i": tune.grid_search(list(range(len(configs))))},
        tune_config=tune.TuneConfig(max_concurrent_trials=CORES, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp / "tune"), verbose=0),
    )
    results = tuner.fit()
    wall = time.perf_counter() - t
    if len(results) != len(configs) or results.errors:
        raise RuntimeError(f"Ray Tune trials failed: {results.errors}")
    return wall


def peer_lithops(points: list[tuple[float, float]], paths: int) -> float:
    import lithops

    args = [(k, s, paths, i) for i, (k, s) in enumerate(points)]
    ex = lithops.FunctionExecutor(
        backend="localhost", storage="localhost", log_level="WARNING", worker_processes=CORES
    )
    try:
        t = time.perf_counter()
        futures = ex.map(workers.lithops_point, args)
        results = ex.get_result(futures)
        wall = time.perf_counter() - t
    finally:
        ex.clean()
    assert len(results) == len(args)
    return wall


def run(sz: Sizes, eff: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """``eff`` is the efficiency section's result: sweep_magic's rows are its walls."""
    paths = eff["paths"]
    points = sweep_points(sz.eff_side)
    n = len(points)
    out: dict[str, Any] = {"points": n, "paths": paths, "load_before": load()}
    out["sweep_magic_local"] = {"wall_s": eff["local"]["wall_s"], "measured_points": n}
    out["sweep_magic_ray"] = {"wall_s": eff["ray"]["wall_s"], "measured_points": n}
    # The NumPy kernel's cost on the same points, one core (what every peer pays per point).
    sample = points[:: max(1, n // 200)]
    t = time.perf_counter()
    for i, (k, s) in enumerate(sample):
        workers.numpy_point((k, s, paths, i))
    out["numpy_kernel_s"] = (time.perf_counter() - t) / len(sample)
    log("peers: ProcessPoolExecutor")
    out["processpool"] = {"wall_s": median([peer_processpool(points, paths)]), "measured_points": n}
    for name, size, fn in (
        ("ray_tune", sz.tune_points, lambda pts: peer_tune(pts, paths, tmp)),
        ("lithops", sz.lithops_points, lambda pts: peer_lithops(pts, paths)),
    ):
        subset = points[:: max(1, n // size)][:size]
        log(f"peers: {name} on {len(subset)} of {n} points")
        try:
            wall = fn(subset)
        except Exception as exc:  # noqa: BLE001 - a failing peer is reported, not fatal
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        out[name] = {
            "measured_points": len(subset),
            "measured_wall_s": wall,
            # Per-point cost is linear in these frameworks (one trial / one process per
            # point), so the full sweep's wall time is extrapolated from the subset.
            "wall_s": wall * n / len(subset),
            "per_point_s": wall / len(subset),
        }
    for name in ("processpool", "ray_tune", "lithops"):
        if "wall_s" in out[name]:
            out[name]["ratio_vs_local"] = out[name]["wall_s"] / out["sweep_magic_local"]["wall_s"]
    out["load_after"] = load()
    return out


def section(p: dict[str, Any]) -> Section:
    lines = [
        "## Peers on the same sweep",
        "",
        f"The sweep of the previous section ({p['points']:,} points, about 1 ms each). "
        "sweep_magic runs its Rust kernel and writes Parquet; the peers run the NumPy version of "
        f"the same estimator ({fmt_s(p['numpy_kernel_s'])} per point on one core) and keep "
        "results in memory. Ray Tune runs one trial per point (grid search, actors reused) "
        "and Lithops' localhost executor one call per point (each call is a new Python "
        "process); both cost the same per point throughout, so they were timed on an evenly "
        "spread subset and their full-sweep time extrapolated linearly (shown).",
        "",
        "| runner | points timed | wall (full sweep) | vs sweep_magic local |",
        "|---|---:|---:|---:|",
    ]
    local_wall = p["sweep_magic_local"]["wall_s"]
    for key, label, _ in RUNNERS:
        r = p[key]
        if "error" in r:
            lines.append(f"| {label} | — | failed: {r['error']} | — |")
            continue
        extrap = " (extrapolated)" if r["measured_points"] < p["points"] else ""
        lines.append(
            f"| {label} | {r['measured_points']:,} | {fmt_s(r['wall_s'])}{extrap} | "
            f"{r['wall_s'] / local_wall:.1f}x |"
        )
    targets = []
    goal = f">= {FASTER_THAN}x"
    for key, label in (("ray_tune", "Ray Tune"), ("lithops", "Lithops localhost")):
        r = p[key]
        if "error" in r:
            targets.append(Target(f"faster than {label}", goal, "failed", False, r["error"]))
            continue
        ratio = r["wall_s"] / local_wall
        targets.append(
            Target(
                f"faster than {label} (10^4 points, 1 ms)",
                goal,
                f"{ratio:.1f}x",
                ratio >= FASTER_THAN,
                "" if ratio >= FASTER_THAN else f"short by {FASTER_THAN / ratio:.2f}x",
            )
        )
    lines += ["", "![peers](peers.png)", ""]
    return lines, targets


def plot(p: dict[str, Any], out: Path) -> None:
    labels, walls = [], []
    for key, _, label in RUNNERS:
        if "wall_s" in p[key]:
            labels.append(label)
            walls.append(p[key]["wall_s"])
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.5))
    ax.bar(labels, walls, color="#8e44ad")
    ax.set_yscale("log")
    ax.set_ylabel("wall seconds")
    ax.set_title(f"Same sweep: {p['points']:,} points, ~1 ms each")
    fig.tight_layout()
    fig.savefig(out / "peers.png", dpi=110)
    plt.close(fig)
