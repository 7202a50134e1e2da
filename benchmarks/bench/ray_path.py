"""4. The ``ray`` backend's own costs: the first result after ``import sweep_magic`` in a fresh
process (Ray started by the backend, with only what a sweep needs), the same with a running
Ray, and where Ray's share of the 1 ms sweep goes: the CPU its own processes take, the cost
per task, and the effect of the batching (tasks per CPU)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sweep_magic as sm
from sweep_magic.backends.batching import TASKS_PER_CPU
from sweep_magic.backends.ray import RayBackend

from .common import (
    CORES,
    Section,
    Sizes,
    Target,
    fmt_s,
    load,
    log,
    median,
    ray_cpu_by_pid,
    ray_cpu_spent,
)
from .efficiency import one_ms_paths, one_ms_spec

#: First result after `import sweep_magic`, Ray started by the backend (quiet machine).
FIRST_RESULT_GOAL_S = 8.0
#: Fresh processes timed for the first result.
FIRST_RESULT_RUNS = 3
#: Batching variants of the 1 ms sweep (tasks per CPU).
BATCHING = (1, TASKS_PER_CPU, 16)

_FIRST_RESULT = r"""
import json, sys, time
t0 = time.perf_counter()
import sweep_magic as sm
imported = time.perf_counter() - t0
spec = {"experiment": "diag_sleep", "params": {"micros": [1000, 2000]}}
run = sm.run(spec, backend="ray", root=sys.argv[1] + "/a")
started = time.perf_counter() - t0
run.wait()
first = time.perf_counter() - t0
t1 = time.perf_counter()
sm.run(spec, backend="ray", root=sys.argv[1] + "/b").wait()
again = time.perf_counter() - t1
print(json.dumps({"import_s": imported, "ray_started_s": started, "first_s": first,
                  "again_s": again}))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _running_cluster(tmp: Path) -> Iterator[dict[str, str]]:
    """A Ray head of its own (`ray start --head --block`, own temp dir, ports and token, no
    dashboard or usage statistics), as a user who keeps Ray running has; yields the driver's
    environment for it. Stopped by killing its process group (never `ray stop`)."""
    base = Path(tempfile.mkdtemp(prefix="rb", dir="/tmp"))  # short: Ray's socket paths
    token = base / "token"
    token.write_text(secrets.token_hex(32))
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(auth, RAY_USAGE_STATS_ENABLED="0")
    ray_cli = str(Path(sys.executable).parent / "ray")
    with (base / "head.log").open("w") as log:
        proc = subprocess.Popen(
            [
                ray_cli,
                "start",
                "--head",
                "--block",
                f"--port={port}",
                f"--temp-dir={base / 'rt'}",
                f"--num-cpus={CORES}",
                "--include-dashboard=false",
                "--disable-usage-stats",
                f"--dashboard-port={_free_port()}",
                f"--dashboard-agent-listen-port={_free_port()}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 240
            while not (base / "rt" / "ray_current_cluster").exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("ray start did not come up")
                time.sleep(0.5)
            yield {**env, "RAY_ADDRESS": f"127.0.0.1:{port}"}
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            shutil.rmtree(base, ignore_errors=True)


def _first_result(tmp: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """A fresh Python: import, a 2-point sweep on Ray, then a second sweep on the same Ray.
    Without ``env``, no RAY_ADDRESS: the backend starts its own Ray."""
    if env is None:
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    runs = []
    for i in range(FIRST_RESULT_RUNS):
        root = tmp / f"first-{i}"
        before = os.getloadavg()[0]
        done = subprocess.run(
            [sys.executable, "-c", _FIRST_RESULT, str(root)],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            return {"error": done.stderr.strip().splitlines()[-1:] or ["failed"]}
        sample = json.loads(done.stdout.strip().splitlines()[-1])
        sample["load_before"] = round(before, 2)
        sample["load_after"] = round(os.getloadavg()[0], 2)
        runs.append(sample)
        shutil.rmtree(root, ignore_errors=True)
    # Quiet: the load before the process started (its own Ray raises the load after it).
    quiet = [r for r in runs if r["load_before"] <= CORES] or runs
    return {
        "runs": runs,
        "first_s": median([r["first_s"] for r in quiet]),
        "import_s": median([r["import_s"] for r in quiet]),
        "ray_started_s": median([r["ray_started_s"] for r in quiet]),
        "again_s": median([r["again_s"] for r in quiet]),
        "quiet_runs": len([r for r in runs if r["load_before"] <= CORES]),
    }


def _ray_wall(spec: sm.Spec, root: Path, tasks_per_cpu: int = TASKS_PER_CPU) -> float:
    t = time.perf_counter()
    RayBackend(tasks_per_cpu=tasks_per_cpu).start(spec, root).wait()
    wall = time.perf_counter() - t
    shutil.rmtree(root, ignore_errors=True)
    return wall


def _local_wall(spec: sm.Spec, root: Path, threads: int) -> float:
    t = time.perf_counter()
    sm.run(spec, backend="local", root=root, threads=threads).wait()
    wall = time.perf_counter() - t
    shutil.rmtree(root, ignore_errors=True)
    return wall


def run(sz: Sizes, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"load_before": load(), "cores": CORES}
    log("ray path: first result after import, in fresh processes")
    try:
        out["first"] = _first_result(tmp)
    except Exception as exc:  # noqa: BLE001 - reported in the table, not fatal
        out["first"] = {"error": f"{type(exc).__name__}: {exc}"}
    log("ray path: first result after import, a running cluster reused (RAY_ADDRESS)")
    try:
        with _running_cluster(tmp) as env:
            out["first_running"] = _first_result(tmp, env)
    except Exception as exc:  # noqa: BLE001 - reported in the table, not fatal
        out["first_running"] = {"error": f"{type(exc).__name__}: {exc}"}

    quick = sz.eff_repeats <= 1
    paths = one_ms_paths()
    spec = one_ms_spec(30 if quick else 70, paths)
    out["points"], out["paths"] = spec.points, paths
    log(f"ray path: the 1 ms sweep, {spec.points} points")
    _ray_wall(one_ms_spec(4, paths), tmp / "warm")  # Ray up, workers warm
    # Interleaved: local on all cores, ray (default batching), with the CPU each Ray
    # process used during the ray runs.
    local_walls, ray_walls = [], []
    cpu: dict[str, float] = {}
    repeats = 2 if quick else 3
    for i in range(repeats):
        local_walls.append(_local_wall(spec, tmp / f"l{i}", CORES))
        before = ray_cpu_by_pid()
        ray_walls.append(_ray_wall(spec, tmp / f"r{i}"))
        for kind, used in ray_cpu_spent(before).items():
            cpu[kind] = cpu.get(kind, 0.0) + used / repeats
    # The kernels' work: the same sweep on one thread of `local` (whose own overhead is under
    # a microsecond per row, see the overhead section).
    one_thread = _local_wall(spec, tmp / "one", 1)
    out["one_thread_s"] = one_thread
    out["local_s"] = median(local_walls)
    out["ray_s"] = median(ray_walls)
    out["ray_cpu"] = dict(sorted(cpu.items(), key=lambda kv: -kv[1]))
    out["ray_capacity_s"] = out["ray_s"] * CORES
    out["work_s"] = one_thread
    # Batching: tasks per CPU.
    out["batching"] = {}
    for k in BATCHING:
        out["batching"][str(k)] = median(
            [_ray_wall(spec, tmp / f"b{k}-{i}", k) for i in range(1 if quick else 2)]
        )
    # Per-task cost: trivial shards, one per task.
    n = 40 if quick else 200
    trivial = sm.Spec(
        {
            "experiment": "diag_sleep",
            "shard_size": 1,
            "params": {"micros": {"linspace": [0, 0, n]}},
        }
    )
    walls = [_ray_wall(trivial, tmp / f"t{i}", n) for i in range(2)]
    local_trivial = _local_wall(trivial, tmp / "tl", CORES)
    out["trivial"] = {
        "tasks": n,
        "ray_s": median(walls),
        "local_s": local_trivial,
        "per_task_s": (median(walls) - local_trivial) * CORES / n,
    }
    out["load_after"] = load()
    return out


def section(r: dict[str, Any]) -> Section:
    cores = r["cores"]
    lines = ["## Ray: first result and overhead", ""]
    targets: list[Target] = []
    first = r["first"]
    if "error" in first:
        lines += [f"First result: failed: {first['error']}", ""]
        targets.append(
            Target(
                "first `ray` result after `import`",
                f"< {FIRST_RESULT_GOAL_S:.0f} s",
                "failed",
                False,
                str(first["error"]),
            )
        )
    else:
        lines += [
            f"A fresh Python process imports sweep_magic and runs a 2-point sweep with "
            f'`backend="ray"` and no `RAY_ADDRESS`, so the backend starts Ray itself (no '
            f"dashboard, no usage statistics); then a second sweep on the same Ray. Median of "
            f"{len(first['runs'])} processes ({first['quiet_runs']} on a quiet machine).",
            "",
            "| step | seconds after the start of the process |",
            "|---|---:|",
            f"| `import sweep_magic` done | {first['import_s']:.2f} |",
            f"| Ray started, run submitted | {first['ray_started_s']:.2f} |",
            f"| first result (the run complete) | {first['first_s']:.2f} |",
            f"| a second run on the running Ray (its own duration) | {first['again_s']:.2f} |",
            "",
        ]
        running = r.get("first_running", {})
        if "first_s" in running:
            lines += [
                "With a Ray already running (`ray start --head --include-dashboard=false "
                "--disable-usage-stats`, then `RAY_ADDRESS`), the same fresh process gets its "
                f"first result {running['first_s']:.2f} s after it starts (import "
                f"{running['import_s']:.2f} s, joined and submitted at "
                f"{running['ray_started_s']:.2f} s). Starting Ray costs what it does because "
                "Ray 2.60 starts, besides the GCS and the raylet, five Python processes on the "
                "head (autoscaler monitor, dashboard head, log monitor, dashboard agent, "
                "runtime-env agent) and one worker per CPU, each importing Ray (about 2 s of "
                "CPU each here); `include_dashboard=False` does not remove them.",
                "",
            ]
        elif "error" in running:
            lines += [f"With a running Ray: failed: {running['error']}", ""]
        loaded = first["quiet_runs"] == 0
        targets.append(
            Target(
                "first `ray` result after `import` (quiet machine)",
                f"< {FIRST_RESULT_GOAL_S:.0f} s",
                f"{first['first_s']:.2f} s" + (" (loaded machine)" if loaded else ""),
                first["first_s"] < FIRST_RESULT_GOAL_S,
                ""
                if first["first_s"] < FIRST_RESULT_GOAL_S
                else f"{first['first_s'] - FIRST_RESULT_GOAL_S:.1f} s over; Ray's start "
                f"took {first['ray_started_s'] - first['import_s']:.1f} s (its own processes, "
                "see the Ray section)",
            )
        )
        running = r.get("first_running", {})
        if "first_s" in running:
            ok = running["first_s"] < FIRST_RESULT_GOAL_S
            targets.append(
                Target(
                    "first `ray` result after `import`, a running Ray reused",
                    f"< {FIRST_RESULT_GOAL_S:.0f} s",
                    f"{running['first_s']:.2f} s",
                    ok,
                    "" if ok else f"{running['first_s'] - FIRST_RESULT_GOAL_S:.1f} s over",
                )
            )
    work, capacity = r["work_s"], r["ray_capacity_s"]
    lines += [
        f"Where Ray's share of the 1 ms sweep goes ({r['points']:,} points; `local` on 1 "
        f"thread took {fmt_s(r['one_thread_s'])}, on {cores} threads "
        f"{fmt_s(r['local_s'])}; `ray` took {fmt_s(r['ray_s'])}, so {fmt_s(capacity)} "
        f"of core time, of which the kernels need {fmt_s(work)}). CPU used during the "
        "`ray` runs, by process:",
        "",
        "| process | CPU seconds | share of the run's core time |",
        "|---|---:|---:|",
    ]
    for kind, seconds in r["ray_cpu"].items():
        lines.append(f"| {kind} | {seconds:.2f} | {seconds / capacity:.1%} |")
    idle = max(0.0, capacity - sum(r["ray_cpu"].values()))
    lines += [
        f"| (idle or other processes) | {idle:.2f} | {idle / capacity:.1%} |",
        "",
        f"Batching (tasks per CPU; the backend's default is {TASKS_PER_CPU}):",
        "",
        "| tasks per CPU | wall | vs `local` on all cores |",
        "|---:|---:|---:|",
    ]
    for k, wall in r["batching"].items():
        lines.append(f"| {k} | {fmt_s(wall)} | {wall / r['local_s']:.2f}x |")
    t = r["trivial"]
    lines += [
        "",
        f"Cost per task: {t['tasks']} trivial shards, one task each, took "
        f"{fmt_s(t['ray_s'])} on `ray` and {fmt_s(t['local_s'])} on `local`: about "
        f"{fmt_s(t['per_task_s'])} of a core per task.",
        "",
    ]
    return lines, targets
