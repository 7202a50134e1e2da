"""Side-by-side benchmarks of sweep_magic: one command runs every comparison and writes
``RESULTS.md`` (tables of medians, ratios, targets, machine info), the plots as PNGs and the
raw figures as ``results.json`` into ``benchmarks/`` (or ``--out DIR``).

    python benchmarks/run.py                        # full sizes (what RESULTS.md reports)
    python benchmarks/run.py --quick                # tiny sizes, to check the harness
    python benchmarks/run.py --only kernels,memory --out /tmp/bench   # a subset

Normally started by ``scripts/bench.sh``, which first builds the engine in release mode.
Both sides of every comparison run in this one process run, on the same sweep and machine.
The sections live in ``benchmarks/bench/``, one module each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Importing the package sets up sys.path, PYTHONPATH, PATH and the BLAS thread counts
# before NumPy and sweep_magic load.
from bench import (
    BENCH_DIR,
    cloud,
    efficiency,
    kernels,
    memory,
    moonshot,
    overhead,
    own_kernels,
    peers,
    ray_path,
)
from bench.common import FULL, QUICK, Sizes, log, machine
from bench.report import plots, report

# Run order (also the report's). Each takes the sizes, the scratch directory and the results
# so far; peers reuses the efficiency section's sweep_magic timings.
SECTIONS: dict[str, Callable[[Sizes, Path, dict[str, Any]], dict[str, Any]]] = {
    "kernels": lambda sz, tmp, res: kernels.run(sz),
    "overhead": lambda sz, tmp, res: overhead.run(sz, tmp),
    "ray": lambda sz, tmp, res: ray_path.run(sz, tmp),
    "efficiency": lambda sz, tmp, res: efficiency.run(sz, tmp),
    "peers": lambda sz, tmp, res: peers.run(sz, res["efficiency"], tmp),
    "cloud": lambda sz, tmp, res: cloud.run(sz, tmp),
    "memory": lambda sz, tmp, res: memory.run(sz),
    "own_kernels": lambda sz, tmp, res: own_kernels.run(sz, tmp),
    "moonshot": lambda sz, tmp, res: moonshot.run(sz),
}
NEEDS = {"peers": "efficiency"}


def parse_only(value: str) -> list[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown section(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(SECTIONS)}"
        )
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (checks the harness)")
    parser.add_argument(
        "--only",
        type=parse_only,
        metavar="NAME[,NAME]",
        help=f"run only these sections ({', '.join(SECTIONS)}); peers also runs efficiency",
    )
    parser.add_argument(
        "--out",
        default=str(BENCH_DIR),
        metavar="DIR",
        help="where RESULTS.md, the PNGs and results.json go (default: benchmarks/)",
    )
    args = parser.parse_args()
    sz = QUICK if args.quick else FULL
    selected = set(args.only or SECTIONS)
    for name, needed in NEEDS.items():
        if name in selected and needed not in selected:
            log(f"{name} needs {needed}: running it too")
            selected.add(needed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="sweep-bench-"))
    started = time.perf_counter()
    res: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    if args.only:
        res["only"] = [n for n in SECTIONS if n in selected]
    try:
        for name, bench in SECTIONS.items():
            if name in selected:
                res[name] = bench(sz, tmp, res)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    loads = [
        v[key]
        for v in res.values()
        if isinstance(v, dict)
        for key in ("load_before", "load_after")
        if key in v
    ]
    res["load_range"] = f"{min(loads):.2f} to {max(loads):.2f}" if loads else "?"
    res["total_s"] = time.perf_counter() - started
    (out / "results.json").write_text(json.dumps(res, indent=2))
    plots(res, out)
    print(report(res, out / "RESULTS.md"))
    log(f"done in {res['total_s']:.0f} s; wrote {out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
