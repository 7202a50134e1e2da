"""7. Own kernels: the per-row cost of a kernel loaded through the C ABI against the same
kernel built in, and how long a ``%%sweep kernel`` cell takes to compile (cold, after a
one-line change, unchanged)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import sweep_magic as sm
from sweep_magic import _native

from . import BENCH_DIR
from .common import Section, Sizes, Target, fmt_s, load, log, median

ABI_RATIO = 1.05  # a loaded 1 µs kernel costs at most 5% more per row than the built-in
WARM_BUILD_S = 10.0  # a one-line change to a cell rebuilds in under 10 s
REPO = BENCH_DIR.parent


def _sleep_spec(experiment: str, micros: int, rows: int) -> dict[str, Any]:
    return {
        "experiment": experiment,
        "name": "bench-own-kernels",
        "sample": {"method": "random", "n": rows, "params": {"micros": {"choice": [micros]}}},
    }


def _build_bench_sleep(tmp: Path) -> Path:
    """``benchmarks/kernels/bench_sleep``: the built-in ``diag_sleep`` written on the SDK."""
    target = tmp / "bench-kernel-target"
    subprocess.run(
        ["cargo", "build", "--release", "--quiet"],  # noqa: S607 - cargo from PATH
        cwd=BENCH_DIR / "kernels" / "bench_sleep",
        env={**os.environ, "CARGO_TARGET_DIR": str(target)},
        check=True,
    )
    return target / "release" / "libbench_sleep.so"


def _per_row(rows: int, repeats: int, root: Path) -> dict[str, Any]:
    """Kernel calls alone (``time_rows``: decode, seed, call; nothing written) and whole runs
    on one thread (Parquet included), built-in and loaded interleaved in each repeat."""
    out: dict[str, Any] = {"rows": rows}
    for micros in (0, 1):
        call: dict[str, list[float]] = {"diag_sleep": [], "bench_sleep": []}
        run: dict[str, list[float]] = {"diag_sleep": [], "bench_sleep": []}
        for i in range(repeats):
            for exp in call:
                text = json.dumps(_sleep_spec(exp, micros, rows))
                call[exp].append(_native.time_rows(text, "json", rows))
                t = time.perf_counter()
                spec = _sleep_spec(exp, micros, rows)
                sm.run(spec, root=root / f"{exp}-{micros}-{i}", threads=1).wait()
                run[exp].append((time.perf_counter() - t) / rows)
        out[f"{micros}us"] = {
            kind: {
                "builtin_ns": median(d["diag_sleep"]) * 1e9,
                "loaded_ns": median(d["bench_sleep"]) * 1e9,
                "ratio": median(d["bench_sleep"]) / median(d["diag_sleep"]),
            }
            for kind, d in (("call", call), ("run", run))
        }
    return out


def _cell_body() -> str:
    """The kernel template's items (the notebook's OU kernel) as a cell body."""
    text = (REPO / "sweep_magic" / "kernel_template" / "lib.rs").read_text()
    start = text.index("const DESCRIPTION")
    return text[start : text.index("sweep_kernel_sdk::export_kernel!(")].rstrip() + "\n"


def _compile_times(tmp: Path) -> dict[str, float]:
    from sweep_magic.kernel_cells import compile_cell

    os.environ["SWEEP_KERNEL_TARGET"] = str(tmp / "cell-target")  # cold: nothing built yet
    os.environ["SWEEP_KERNEL_CELLS"] = str(tmp / "cells")
    body = _cell_body()
    t = time.perf_counter()
    compile_cell("bench_ou", body)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    compile_cell("bench_ou", body)
    cached = time.perf_counter() - t
    changed = body.replace("let mut sum = 0.0;", "let mut sum = 0.0_f64;")
    assert changed != body
    t = time.perf_counter()
    compile_cell("bench_ou", changed)
    warm = time.perf_counter() - t
    return {"cold_s": cold, "warm_s": warm, "cached_s": cached}


def run(sz: Sizes, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"load_before": load()}
    log("own kernels: building bench_sleep")
    sm.load_kernel(_build_bench_sleep(tmp))
    log("own kernels: per-row cost")
    out["per_row"] = _per_row(sz.overhead_points // 5, sz.overhead_repeats + 2, tmp / "runs")
    log("own kernels: compile times")
    out["compile"] = _compile_times(tmp)
    out["load_after"] = load()
    return out


def section(o: dict[str, Any]) -> Section:
    p = o["per_row"]
    lines = [
        "## Own kernels",
        "",
        "The built-in `diag_sleep` against `bench_sleep`, the same code written on the kernel "
        f"SDK and loaded through the C ABI ({p['rows']:,} rows each, medians of interleaved "
        "repeats). *call*: the kernel calls alone (decode, seed, call; nothing written); "
        "*run*: whole runs on one thread, Parquet included.",
        "",
        "| kernel | measure | built-in | loaded | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for micros in ("0us", "1us"):
        for kind in ("call", "run"):
            r = p[micros][kind]
            lines.append(
                f"| {micros.replace('us', ' µs')} | {kind} | {r['builtin_ns']:.0f} ns | "
                f"{r['loaded_ns']:.0f} ns | {r['ratio']:.3f} |"
            )
    c = o["compile"]
    lines += [
        "",
        "A `%%sweep kernel` cell (the Ornstein-Uhlenbeck example): cold (empty target folder, "
        f"the SDK compiled too) {fmt_s(c['cold_s'])}, after a one-line change "
        f"{fmt_s(c['warm_s'])}, unchanged (cache hit) {fmt_s(c['cached_s'])}.",
        "",
    ]
    run_ratio = p["1us"]["run"]["ratio"]
    call_ratio = p["1us"]["call"]["ratio"]
    targets = [
        Target(
            "loaded vs built-in kernel, 1 µs per row (whole run)",
            f"<= {ABI_RATIO:.2f}x",
            f"{run_ratio:.3f}x (kernel calls alone {call_ratio:.3f}x)",
            run_ratio <= ABI_RATIO,
            ""
            if run_ratio <= ABI_RATIO
            else "each call crosses the ABI: the parameters and metrics are copied into C "
            "values and the kernel's own result vector is allocated and freed",
        ),
        Target(
            "`%%sweep kernel` rebuild after a one-line change",
            f"< {WARM_BUILD_S:g} s",
            fmt_s(c["warm_s"]),
            c["warm_s"] < WARM_BUILD_S,
            "",
        ),
    ]
    return lines, targets
