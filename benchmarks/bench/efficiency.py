"""3. Parallel efficiency: ``gbm_option`` tuned to about 1 ms per point, measured as the speedup
of all cores over one, in interleaved pairs so that both sides of each ratio see the same
machine.

``local``: one thread, then every core, then one thread again, ... (``PAIRS`` pairs); each
pair gives a speedup, and efficiency = speedup / cores. ``ray``: the same, with ``local`` on
one thread as the baseline of each pair (the same kernel and engine, so the ratio is what Ray
adds or loses). Each pair also measures what else took the cores meanwhile: other processes'
CPU (from ``/proc/stat``, less this process's and Ray's) and the time the hypervisor stole
from this VM; a pair that lost more than ``LOADED_SHARE`` of a core that way is marked as
loaded and measured again at the end, up to ``EXTRA_PAIRS`` times; the reported figure is the median
over the quiet pairs, or over all pairs (and said so) when fewer than three were quiet."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import sweep_magic as sm
from sweep_magic import _native

from .common import (
    CORES,
    Section,
    Sizes,
    Target,
    fmt_s,
    load,
    log,
    machine_cpu_s,
    median,
    own_cpu_s,
    pyplot,
    ray_cpu_by_pid,
    ray_cpu_spent,
)

TARGETS = {"local": 0.95, "ray": 0.85}  # minimum parallel efficiency per backend
#: Interleaved pairs per backend (the issue's "at least 5"); the quick mode takes 2.
PAIRS = 5
#: Further pairs measured when some were loaded, at most.
EXTRA_PAIRS = 3
#: Quiet pairs needed for the median to rest on quiet pairs only.
MIN_QUIET = 3
#: A pair is loaded when other processes and the hypervisor (stolen time) took more than
#: this share of one core, on average over the pair. (Not the load average: this process's
#: own threads count in it, and a VM's stolen time does not.)
LOADED_SHARE = 0.10


def one_ms_paths() -> int:
    """gbm_option paths for a kernel of about 1 ms on one core here (best of several timings,
    so a busy moment on a shared machine does not shrink the kernel)."""
    probe = {"experiment": "gbm_option", "params": {"s0": 100, "strike": 100, "sigma": 0.3}}
    paths = 20_000
    for _ in range(3):
        probe["params"]["paths"] = paths  # type: ignore[index]
        per = min(_native.time_rows(json.dumps(probe), "json", 50) for _ in range(5))
        paths = max(100, int(paths * 1e-3 / per))
    return paths - paths % 2


def one_ms_spec(side: int, paths: int) -> sm.Spec:
    return sm.Spec(
        {
            "experiment": "gbm_option",
            "name": "bench-1ms",
            "seed": 7,
            "params": {
                "s0": 100,
                "strike": {"linspace": [80, 120, side]},
                "sigma": {"linspace": [0.1, 0.5, side]},
                "paths": paths,
            },
        }
    )


def _wall(spec: sm.Spec, backend: str, threads: int | None, root: Path) -> float:
    """Wall seconds of one run to completion (its output removed afterwards)."""
    t = time.perf_counter()
    sm.run(spec, backend=backend, root=root, threads=threads).wait()
    wall = time.perf_counter() - t
    shutil.rmtree(root, ignore_errors=True)
    return wall


def _pair(spec: sm.Spec, backend: str, tmp: Path, i: int) -> dict[str, Any]:
    """One interleaved pair: ``local`` on one thread, then ``backend`` on every core, with
    what else took the cores meanwhile: other processes (the machine's busy time minus this
    process's and, for ``ray``, Ray's) and the hypervisor (stolen time)."""
    before = os.getloadavg()[0]
    busy0, stolen0 = machine_cpu_s()
    own0, ray0 = own_cpu_s(), ray_cpu_by_pid()
    base = _wall(spec, "local", 1, tmp / f"{backend}-base-{i}")
    parallel = _wall(spec, backend, None if backend == "ray" else CORES, tmp / f"{backend}-{i}")
    busy1, stolen1 = machine_cpu_s()
    ray_used = sum(v for k, v in ray_cpu_spent(ray0).items() if k != "driver (this process)")
    others = max(0.0, busy1 - busy0 - (own_cpu_s() - own0) - ray_used)
    stolen = stolen1 - stolen0
    after = os.getloadavg()[0]
    speedup = base / parallel
    # Share of one core taken from the pair on average, by other work and by the hypervisor.
    taken = (others + stolen) / (base + parallel)
    return {
        "base_s": base,
        "parallel_s": parallel,
        "speedup": speedup,
        "efficiency": speedup / CORES,
        "load_before": round(before, 2),
        "load_after": round(after, 2),
        "others_s": others,
        "stolen_s": stolen,
        "taken": taken,
        "loaded": taken > LOADED_SHARE,
    }


def _summary(pairs: list[dict[str, Any]]) -> dict[str, Any]:
    quiet = [p for p in pairs if not p["loaded"]]
    used = quiet if len(quiet) >= MIN_QUIET else pairs
    effs = sorted(p["efficiency"] for p in used)
    return {
        "efficiency": median(effs),
        "min": effs[0],
        "max": effs[-1],
        "pairs_used": len(used),
        "quiet_pairs": len(quiet),
        "on_quiet_pairs": all(not p["loaded"] for p in used),
        "wall_s": median([p["parallel_s"] for p in used]),
        "base_s": median([p["base_s"] for p in used]),
    }


def run(sz: Sizes, tmp: Path) -> dict[str, Any]:
    paths = one_ms_paths()
    spec = one_ms_spec(sz.eff_side, paths)
    pairs_wanted = PAIRS if sz.eff_repeats > 1 else 2
    log(f"efficiency: {spec.points} points, paths={paths}, {pairs_wanted} pairs per backend")
    out: dict[str, Any] = {
        "points": spec.points,
        "paths": paths,
        "cores": CORES,
        "load_before": load(),
        "kernel_s": _native.time_rows(spec.to_json(), "json", min(spec.points, 1000)),
    }
    # Ray is started (and its workers warmed) before the first timed pair: its start-up is
    # measured on its own, in the first-result section.
    sm.run(one_ms_spec(4, paths), backend="ray", root=tmp / "ray-warm").wait()
    for backend in ("local", "ray"):
        pairs = [_pair(spec, backend, tmp, i) for i in range(pairs_wanted)]
        extra = 0
        while sum(not p["loaded"] for p in pairs) < pairs_wanted and extra < EXTRA_PAIRS:
            # A loaded pair is measured again, later in the same run.
            log(f"efficiency {backend}: a loaded pair; measuring another")
            time.sleep(5)
            pairs.append(_pair(spec, backend, tmp, len(pairs)))
            extra += 1
        out[backend] = {"pairs": pairs, **_summary(pairs)}
        log(
            f"efficiency {backend}: {out[backend]['efficiency']:.1%} "
            f"({out[backend]['min']:.1%} to {out[backend]['max']:.1%})"
        )
    out["load_after"] = load()
    return out


def _why(r: dict[str, Any], backend: str, target: float) -> str:
    eff = r["efficiency"]
    if eff >= target:
        return ""
    note = f"short by {(target - eff) * 100:.1f} points"
    if not r["on_quiet_pairs"]:
        note += f"; only {r['quiet_pairs']} quiet pairs: the median is over loaded pairs too"
    if backend == "ray":
        note += "; where Ray's share goes: see the Ray overhead section"
    return note


def section(e: dict[str, Any]) -> Section:
    cores = e["cores"]
    lines = [
        "## Parallel efficiency (1 ms kernel, all cores)",
        "",
        f"`gbm_option` with {e['paths']:,} paths (about 1 ms per point on one core here; "
        f"{fmt_s(e['kernel_s'])} measured in memory), {e['points']:,} points. Each pair runs "
        f"`local` on 1 thread, then the backend on all {cores} cores; efficiency = speedup / "
        f"{cores}. Pairs alternate (1, {cores}, 1, {cores}, ...) in one process, so both sides "
        "of a ratio see the same machine. A pair is *loaded* when other processes and the "
        "hypervisor (time stolen from this VM, from `/proc/stat`) took more than "
        f"{LOADED_SHARE:.0%} of a core on average during it; loaded pairs are measured again "
        f"at the end, and the median is over the quiet pairs when at least {MIN_QUIET} were "
        "quiet.",
        "",
        "| backend | efficiency (median) | spread (min to max) | pairs (quiet / used) | "
        f"wall, 1 thread | wall, {cores} cores |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    targets = []
    for b, target in TARGETS.items():
        r = e[b]
        lines.append(
            f"| {b} | {r['efficiency']:.1%} | {r['min']:.1%} to {r['max']:.1%} | "
            f"{r['quiet_pairs']} / {r['pairs_used']} | {fmt_s(r['base_s'])} | "
            f"{fmt_s(r['wall_s'])} |"
        )
        measured = f"{r['efficiency']:.1%} ({r['min']:.1%} to {r['max']:.1%})"
        if not r["on_quiet_pairs"]:
            measured += ", loaded machine"
        targets.append(
            Target(
                f"parallel efficiency `{b}` (1 ms kernel, {cores} cores)",
                f">= {target:.0%}",
                measured,
                r["efficiency"] >= target,
                _why(r, b, target),
            )
        )
    lines += [
        "",
        "Every pair, in the order measured:",
        "",
        "| backend | pair | 1 thread | all cores | speedup | efficiency | taken by others / "
        "stolen (share of a core) | load before / after |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for b in TARGETS:
        for i, p in enumerate(e[b]["pairs"], 1):
            mark = " **loaded**" if p["loaded"] else ""
            lines.append(
                f"| {b} | {i} | {fmt_s(p['base_s'])} | {fmt_s(p['parallel_s'])} | "
                f"{p['speedup']:.2f}x | {p['efficiency']:.1%} | "
                f"{p['others_s']:.2f} s / {p['stolen_s']:.2f} s ({p['taken']:.0%}){mark} | "
                f"{p['load_before']:.2f} / {p['load_after']:.2f} |"
            )
    lines += ["", "![efficiency](efficiency.png)", ""]
    return lines, targets


def plot(e: dict[str, Any], out: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    names = list(TARGETS)
    ax.bar(names, [e[b]["efficiency"] * 100 for b in names], color="#8fb3d9")
    for i, b in enumerate(names):
        xs = [i + (j - 2) * 0.06 for j in range(len(e[b]["pairs"]))]
        ys = [p["efficiency"] * 100 for p in e[b]["pairs"]]
        colors = ["#c0392b" if p["loaded"] else "#1f3b57" for p in e[b]["pairs"]]
        ax.scatter(xs, ys, s=12, c=colors, zorder=3)
        target = TARGETS[b] * 100
        ax.plot([i - 0.4, i + 0.4], [target, target], "k--", lw=1)
    ax.set_ylim(0, 110)
    ax.set_ylabel("parallel efficiency, %")
    ax.set_title(f"1 ms kernel, {e['cores']} cores: median, pairs (red: loaded), targets")
    ax.title.set_fontsize(9)
    fig.tight_layout()
    fig.savefig(out / "efficiency.png", dpi=110)
    plt.close(fig)
