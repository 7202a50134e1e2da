"""6. Memory: peak RSS of fresh processes running ``local`` sweeps of growing size."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from .common import Section, Sizes, Target, fmt_s, load, log, pyplot

MAX_GROWTH = 2.0  # peak RSS of the largest run below this multiple of the smallest run's

_CHILD = """
import resource, sys, tempfile, time, shutil
import sweep_magic as sm
n = int(sys.argv[1])
spec = sm.Spec({"experiment": "diag_sleep",
                "sample": {"method": "random", "n": n, "params": {"micros": {"choice": [0]}}}})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
root = tempfile.mkdtemp()
t = time.perf_counter()
run = sm.run(spec, root=root).wait()
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, peak, wall, run.status().rows_ok)
shutil.rmtree(root)
"""


def run(sz: Sizes) -> dict[str, Any]:
    out: dict[str, Any] = {"runs": [], "load_before": load()}
    for n in sz.memory_points:
        log(f"memory: {n:,} points")
        res = subprocess.run(
            [sys.executable, "-c", _CHILD, str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        before, peak, wall, rows = res.stdout.split()
        out["runs"].append(
            {
                "points": n,
                "rss_before_mib": int(before) / 1024,
                "peak_rss_mib": int(peak) / 1024,
                "wall_s": float(wall),
                "rows_ok": int(rows),
            }
        )
    out["load_after"] = load()
    return out


def section(mem: dict[str, Any]) -> Section:
    lines = [
        "## Memory",
        "",
        "Peak resident set size of a fresh process running a `local` sweep of `diag_sleep` "
        "(`micros: 0`) to completion: results stream to Parquet shard by shard, and points are "
        "decoded from their index, so no point list is ever built.",
        "",
        "| points | RSS after import | peak RSS | peak - import | wall |",
        "|---:|---:|---:|---:|---:|",
    ]
    runs = mem["runs"]
    for r in runs:
        lines.append(
            f"| {r['points']:,} | {r['rss_before_mib']:.0f} MiB | {r['peak_rss_mib']:.0f} MiB | "
            f"{r['peak_rss_mib'] - r['rss_before_mib']:.0f} MiB | {fmt_s(r['wall_s'])} |"
        )
    peaks = [r["peak_rss_mib"] for r in runs]
    growth = peaks[-1] / peaks[0] if peaks[0] else 0.0
    pts = runs[-1]["points"] / runs[0]["points"]
    bounded = growth < MAX_GROWTH
    target = Target(
        f"peak RSS bounded ({runs[0]['points']:,} -> {runs[-1]['points']:,} points)",
        "does not grow with points",
        f"{peaks[0]:.0f} -> {peaks[-1]:.0f} MiB (x{growth:.2f} for x{pts:.0f} points)",
        bounded,
        "" if bounded else "peak memory grows with the point count",
    )
    lines += ["", "![memory](memory.png)", ""]
    return lines, [target]


def plot(mem: dict[str, Any], out: Path) -> None:
    runs = mem["runs"]
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot([r["points"] for r in runs], [r["peak_rss_mib"] for r in runs], "o-", label="peak RSS")
    ax.plot(
        [r["points"] for r in runs],
        [r["rss_before_mib"] for r in runs],
        "s--",
        label="after import",
    )
    ax.set_xscale("log")
    ax.set_ylim(0, max(r["peak_rss_mib"] for r in runs) * 1.3)
    ax.set_xlabel("points")
    ax.set_ylabel("MiB")
    ax.set_title("Memory of a local run")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "memory.png", dpi=110)
    plt.close(fig)
