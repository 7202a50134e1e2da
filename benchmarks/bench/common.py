"""What every section shares: the sizes, timing helpers, the run of one sweep, Ray's
start-up, machine information and the record of one target for the report."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import sweep_magic as sm
from sweep_magic import _native

CORES = os.cpu_count() or 1


@dataclass(frozen=True)
class Sizes:
    gbm_paths: int
    ising_size: int
    ising_sweeps: int
    ising_burn_in: int
    repeats: int
    py_repeats: int
    overhead_points: int
    overhead_repeats: int
    eff_side: int  # the 1 ms sweep is eff_side x eff_side points
    eff_repeats: int
    tune_points: int
    lithops_points: int
    memory_points: tuple[int, ...]


FULL = Sizes(200_000, 32, 200, 20, 5, 3, 1_000_000, 3, 100, 3, 100, 100, (10**5, 10**6, 10**7))
QUICK = Sizes(20_000, 8, 20, 5, 2, 1, 20_000, 1, 10, 1, 4, 4, (10**4, 10**5))


class Target(NamedTuple):
    """One row of the report's targets table."""

    what: str
    goal: str
    measured: str
    ok: bool
    why: str  # by how much and why it falls short; empty on a pass


# A section's part of RESULTS.md: its markdown lines and the targets it checks.
Section = tuple[list[str], list[Target]]


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def timed(fn: Callable[[], Any], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def load() -> float:
    return round(os.getloadavg()[0], 2)


def machine_cpu_s() -> tuple[float, float]:
    """(busy, stolen) core-seconds of the whole machine since boot, from ``/proc/stat``:
    busy is user, nice, system, irq and softirq time; stolen is what the hypervisor gave other
    guests while this machine wanted to run (a shared VM's invisible load)."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    busy = f[0] + f[1] + f[2] + f[5] + f[6]
    return busy / tick, (f[7] if len(f) > 7 else 0) / tick


def own_cpu_s() -> float:
    """Core-seconds this process has used (all its threads)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def ray_process_kind(pid: int) -> str | None:
    """Which part of Ray process ``pid`` is, or None when it is not one of Ray's."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return None
    if pid == os.getpid():
        return "driver (this process)"
    if comm.startswith("ray::"):
        return "workers"
    if comm in ("raylet", "gcs_server"):
        return comm
    if b"/ray/" in argv:
        if b"default_worker.py" in argv:
            return "workers"
        return "other Ray processes"
    return None


def ray_cpu_by_pid() -> dict[int, tuple[str, float]]:
    """CPU seconds so far of every Ray process on the machine (this driver included), with
    its kind (:func:`ray_process_kind`)."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        kind = ray_process_kind(pid)
        if kind is None:
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (kind, (int(fields[11]) + int(fields[12])) / tick)
    return out


def ray_cpu_spent(before: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds each kind of Ray process used since ``before`` (:func:`ray_cpu_by_pid`)."""
    spent: dict[str, float] = {}
    for pid, (kind, seconds) in ray_cpu_by_pid().items():
        start = before.get(pid)
        spent[kind] = spent.get(kind, 0.0) + seconds - (start[1] if start else 0.0)
    return spent


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


def fmt_s(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def run_wall(spec: sm.Spec, backend: str, root: Path) -> float:
    """Wall seconds of one sweep run to completion; its output is removed afterwards."""
    t = time.perf_counter()
    sm.run(spec, backend=backend, root=root).wait()
    wall = time.perf_counter() - t
    shutil.rmtree(root, ignore_errors=True)
    return wall


def ray_init() -> float:
    """Starts Ray in this process if it is not running yet; returns the seconds it took."""
    import ray

    t = time.perf_counter()
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    return time.perf_counter() - t


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass

    def version(mod: str) -> str:
        try:
            from importlib.metadata import version as v

            return v(mod)
        except Exception:  # noqa: BLE001
            return "not installed"

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": CORES,
        "memory": mem,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "engine": _native.ENGINE_VERSION,
        "build": os.environ.get("SWEEP_BENCH_BUILD", "unknown (run scripts/bench.sh for release)"),
        "versions": {m: version(m) for m in ("numpy", "ray", "lithops", "pyarrow")},
    }
