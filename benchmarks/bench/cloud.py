"""5. Emulated cloud: the cloud path under its local emulation, with moto's S3 server and with
s3s-fs (when installed), against the ``local`` backend on the same sweep. Skipped, with the
reason recorded, when the emulation cannot be imported or started."""

from __future__ import annotations

import json
import math
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sweep_magic as sm

from .common import QUICK, Section, Sizes, Target, load, log, median

#: Goals (the report's targets table).
DISPATCH_GOAL_S = 1.0  # 1,000 shards dispatched (submit to the dispatcher's log line)
SHARDS_PER_S_GOAL = 100.0  # trivial shards completed per second
STATUS_P95_GOAL_S = 0.5  # GET /runs/{id} of a 10,000-shard run, 95th percentile

INSTANCES = 4  # instances per function under `cargo lambda watch`
SHARDS_PER_INVOKE = 2  # LocalCloud's SWEEP_SHARDS_PER_INVOKE
INVOKES_PER_DISPATCHER = 1_000  # the orchestrator's default
SERVERS = ("moto", "s3s-fs")
# How long the 10,000-shard run may go before it is cancelled: moto completes about 20
# trivial shards a second (10,000 would take ten minutes), s3s-fs about 100.
STATUS_BUDGET_S = {"moto": 60.0, "s3s-fs": 600.0}
STATUS_EVERY_S = 10.0  # seconds between status polls while the large run runs


def _spec(shards: int) -> dict[str, Any]:
    return {
        "experiment": "diag_sleep",
        "shard_size": 1,
        "params": {"micros": {"linspace": [0, 0, shards]}},
    }


def _pct(xs: list[float], q: float) -> float:
    """The q-quantile of ``xs`` (nearest rank)."""
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


# -- what the emulation's processes spend ------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _kind(pid: int) -> str:
    """Which part of the emulation process ``pid`` is."""
    proc = Path(f"/proc/{pid}")
    comm = (proc / "comm").read_text().strip()
    argv = (proc / "cmdline").read_bytes().split(b"\0")
    if comm in ("orchestrator", "worker", "s3s-fs"):
        return comm
    if b"moto.server" in argv:
        return "moto"
    if b"event-queue" in argv:
        return "event queue"
    if comm.startswith("cargo-lambda") or argv[0].endswith(b"cargo-lambda"):
        return "cargo-lambda"
    return comm


def _cpu(cloud: Any) -> dict[int, tuple[str, float]]:
    """CPU seconds (own + reaped children) of every process of the emulation, by pid."""
    out = {}
    for pid in cloud.pids():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds = sum(int(f) for f in fields[11:15]) / _TICK
            out[pid] = (_kind(pid), seconds)
        except (OSError, IndexError, ValueError):
            continue
    return out


def _cpu_spent(
    before: dict[int, tuple[str, float]],
    after: dict[int, tuple[str, float]],
    spent: dict[str, float],
) -> None:
    """Adds the CPU seconds each kind of process spent between the two samples to ``spent``."""
    for pid, (kind, seconds) in after.items():
        start = before.get(pid)
        used = seconds - (start[1] if start and start[0] == kind else 0.0)
        spent[kind] = spent.get(kind, 0.0) + used


class _LogFollower:
    """Follows the emulator's log and notes when each ``dispatched`` line of the orchestrator
    and each ``shards done`` line of a worker appears (the lines carry no time of their own).
    The run's progress is read from the log, not from status polls: in the emulation a status
    of a large run costs the S3 server more than the shards do (see the report)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dispatched: list[tuple[float, dict[str, Any]]] = []
        self.computed: dict[str, set[int]] = {}
        self.complete_at: dict[str, float] = {}
        self.expected: dict[str, int] = {}
        #: When a worker last logged a "shards done" line, readable or not.
        self.last_done_at = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> _LogFollower:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _follow(self) -> None:
        with open(self.path, errors="replace") as f:
            f.seek(0, os.SEEK_END)
            partial = ""
            while not self._stop.is_set():
                chunk = f.readline()
                if not chunk:
                    time.sleep(0.002)
                    continue
                if not chunk.endswith("\n"):
                    # The emulator is still writing this line: read the rest before parsing.
                    partial += chunk
                    continue
                line, partial = partial + chunk, ""
                now = time.perf_counter()
                if "done" in line:
                    # Also a line garbled by another instance's output written into it (the
                    # emulator interleaves the instances' output): the worker was logging.
                    self.last_done_at = now
                if '"msg":"dispatched"' not in line and '"msg":"shards done"' not in line:
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("msg") == "dispatched":
                    self.dispatched.append((now, record))
                    continue
                run_id = str(record.get("run_id"))
                done = self.computed.setdefault(run_id, set())
                done.update(int(s) for s in record.get("computed", []))
                if len(done) >= self.expected.get(run_id, 1 << 62):
                    self.complete_at.setdefault(run_id, now)

    def _wait(self, found: Any, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            when = found()
            if when is not None:
                return float(when)
            time.sleep(0.01)
        return None

    def dispatched_at(self, run_id: str, invocations: int, timeout: float = 600.0) -> float | None:
        """When the run's dispatchers had sent ``invocations`` worker invocations in all."""

        def found() -> float | None:
            sent = 0
            for when, line in list(self.dispatched):
                if line.get("run_id") == run_id:
                    sent += int(line.get("invocations_sent", 0))
                    if sent >= invocations:
                        return when
            return None

        return self._wait(found, timeout)

    def completed_at(
        self, run_id: str, shards: int, timeout: float, check: Any = None
    ) -> float | None:
        """When workers had logged every one of the run's ``shards`` as computed.

        The emulator writes its function instances' output into one stream, and two lines
        written at the same instant can come out interleaved, character by character, so a
        shard's line may be unreadable. ``check`` (a call that says whether the run is
        complete, e.g. from its status) is asked once the log has been quiet for a second;
        when it says yes, the run completed when the last "shards done" line was written."""
        self.expected[run_id] = shards
        if len(self.computed.get(run_id, ())) >= shards:
            self.complete_at.setdefault(run_id, time.perf_counter())
        asked = 0.0

        def found() -> float | None:
            nonlocal asked
            when = self.complete_at.get(run_id)
            if when is not None or check is None:
                return when
            now = time.perf_counter()
            if now - self.last_done_at > 1.0 and now - asked > 1.0:
                asked = now
                if check():
                    return self.complete_at.setdefault(run_id, self.last_done_at)
            return None

        return self._wait(found, timeout)


@contextmanager
def _timed_requests() -> Iterator[list[tuple[str, str, float]]]:
    """Records (method, path, seconds) of every request of the cloud client."""
    from sweep_magic.backends.cloud import CloudClient

    calls: list[tuple[str, str, float]] = []
    original = CloudClient.request

    def request(self: Any, method: str, path: str, body: bytes | None = None) -> Any:
        t = time.perf_counter()
        try:
            return original(self, method, path, body)
        finally:
            calls.append((method, path, time.perf_counter() - t))

    CloudClient.request = request  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        CloudClient.request = original  # type: ignore[method-assign]


def _requests_logged(cloud: Any) -> int:
    """Requests moto's server has logged (s3s-fs logs none)."""
    path = Path(cloud.workdir) / "s3.log"
    if cloud.s3_server != "moto" or not path.exists():
        return 0
    return path.read_text(errors="replace").count(' HTTP/1.1" ')


def _list_cost(cloud: Any, run_id: str) -> tuple[float, int]:
    """Seconds of one LIST of up to 1,000 keys (the run's first done tallies; best of 3), and
    how many objects the bucket holds: what each LIST of a status costs here."""
    import boto3

    from sweep_magic.local_cloud import BUCKET

    env = cloud.client_env()
    s3 = boto3.client(
        "s3",
        endpoint_url=cloud.s3_url,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    times = []
    for _ in range(3):
        t = time.perf_counter()
        s3.list_objects_v2(Bucket=BUCKET, Prefix=f"runs/{run_id}/done/", MaxKeys=1000)
        times.append(time.perf_counter() - t)
    objects = sum(
        page.get("KeyCount", 0)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    )
    return min(times), objects


# -- one emulation -------------------------------------------------------------------------------


def _measure(server: str, sz: Sizes, tmp: Path) -> dict[str, Any]:
    from sweep_magic.local_cloud import LocalCloud

    quick = sz is QUICK
    shards = 40 if quick else 1_000
    repeats = 1 if quick else 3
    big = 200 if quick else 10_000
    polls = 5 if quick else 20
    out: dict[str, Any] = {"shards": shards, "repeats": repeats, "status_shards": big}
    saved = dict(os.environ)
    cloud = LocalCloud(
        concurrency=INSTANCES, workdir=tmp / f"cloud-{server}", s3_server=server, event_queue=True
    )
    try:
        with cloud, _timed_requests() as calls, _LogFollower(cloud.log_path) as follow:
            os.environ.update(cloud.client_env())
            sm.run(_spec(8), backend="cloud").wait(timeout=300)  # warm every instance up

            # Throughput: trivial shards, from the submit to the last shard's log line; one
            # status at the end checks the rows.
            posts, runs, walls, dispatch_s = [], [], [], []
            cpu: dict[str, float] = {}
            requests = 0
            for _ in range(repeats):
                calls.clear()
                cpu_before, logged = _cpu(cloud), _requests_logged(cloud)
                t = time.perf_counter()
                handle = sm.run(_spec(shards), backend="cloud")
                runs.append(time.perf_counter() - t)
                posts.append(next(s for m, p, s in calls if m == "POST" and p == "/runs"))
                finished = follow.completed_at(
                    handle.run_id,
                    shards,
                    timeout=600,
                    check=lambda h=handle: h.status().shards_done >= shards,
                )
                assert finished is not None, f"the {shards}-shard run did not complete"
                walls.append(finished - t)
                when = follow.dispatched_at(handle.run_id, math.ceil(shards / SHARDS_PER_INVOKE))
                if when is not None:
                    dispatch_s.append(when - t)
                _cpu_spent(cpu_before, _cpu(cloud), cpu)
                requests += _requests_logged(cloud) - logged
                assert handle.status().rows_ok == shards, handle.status()
            out["post_s"] = median(posts)
            out["run_s"] = median(runs)
            out["wall_s"] = median(walls)
            out["shards_per_s"] = shards / out["wall_s"]
            out["dispatch_s"] = median(dispatch_s) if dispatch_s else None
            invocations = math.ceil(shards / SHARDS_PER_INVOKE)
            if out["dispatch_s"]:
                out["invocations_per_s"] = invocations / out["dispatch_s"]
            total = shards * repeats
            by_cost = sorted(cpu.items(), key=lambda kv: -kv[1])
            out["cpu_per_1000"] = {k: v * 1000 / total for k, v in by_cost}
            out["cpu_cores"] = {k: v / sum(walls) for k, v in by_cost}
            if requests:
                out["requests_per_shard"] = requests / total

            # Status of a large run: GET /runs/{id} through the client, one poll every
            # STATUS_EVERY_S while it runs, then (if it completed within its budget) 20 polls
            # of the complete run.
            calls.clear()
            t = time.perf_counter()
            handle = sm.run(_spec(big), backend="cloud")
            out["big_post_s"] = next(s for m, p, s in calls if m == "POST" and p == "/runs")
            when = follow.dispatched_at(
                handle.run_id, math.ceil(big / SHARDS_PER_INVOKE), timeout=120
            )
            out["big_dispatch_s"] = None if when is None else when - t
            running: list[float] = []
            done = 0
            budget = STATUS_BUDGET_S[server] if not quick else 120.0
            while time.perf_counter() - t < budget:
                finished = follow.completed_at(
                    handle.run_id,
                    big,
                    timeout=STATUS_EVERY_S,
                    check=lambda h=handle: h.status().shards_done >= big,
                )
                if finished is not None:
                    out["big_wall_s"] = finished - t
                    break
                t_poll = time.perf_counter()
                done = handle.status().shards_done
                running.append(time.perf_counter() - t_poll)
            out["status_running"] = running
            out["status_running_done"] = done
            if "big_wall_s" in out:
                complete = []
                for _ in range(polls):
                    t_poll = time.perf_counter()
                    status = handle.status()
                    complete.append(time.perf_counter() - t_poll)
                assert status.shards_done == big, status
                out["status_complete"] = complete
            else:
                out["big_cancelled_after_s"] = time.perf_counter() - t
                handle.cancel()
            out["list_s"], out["bucket_objects"] = _list_cost(cloud, handle.run_id)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return out


def _fast_server_ready(quick: bool) -> str | None:
    """None when s3s-fs can be used, else why not (installing it first on a full run)."""
    from sweep_magic.local_cloud import S3S_FS_INSTALL, find_checkout, s3s_fs_binary

    if s3s_fs_binary() is not None:
        return None
    if quick:
        return f"s3s-fs is not installed ({S3S_FS_INSTALL}); quick runs do not build it"
    log(f"emulated cloud: installing s3s-fs ({S3S_FS_INSTALL}, a few minutes)")
    t = time.perf_counter()
    done = subprocess.run(
        ["bash", "scripts/install_s3s_fs.sh"],  # noqa: S607 - bash from PATH
        cwd=find_checkout(),
        check=False,
    )
    if done.returncode != 0 or s3s_fs_binary() is None:
        return f"s3s-fs could not be installed ({S3S_FS_INSTALL} exited {done.returncode})"
    log(f"emulated cloud: s3s-fs built in {time.perf_counter() - t:.0f} s")
    return None


def run(sz: Sizes, tmp: Path) -> dict[str, Any]:
    """The real orchestrator and worker binaries under `cargo lambda watch` (4 instances per
    function, with the event queue in front), each S3 server in turn, the Python cloud
    client; then the `local` backend on the same sweep."""
    try:
        import sweep_magic.local_cloud  # noqa: F401 - only whether it imports
    except ImportError as err:
        out: dict[str, Any] = {"skipped": f"the local emulation cannot be imported ({err})"}
        log(f"emulated cloud: skipped ({out['skipped']})")
        return out
    out = {"instances": INSTANCES, "load_before": load(), "servers": {}}
    for server in SERVERS:
        why = _fast_server_ready(sz is QUICK) if server == "s3s-fs" else None
        if why is not None:
            out["servers"][server] = {"skipped": why}
            log(f"emulated cloud, {server}: skipped ({why})")
            continue
        log(f"emulated cloud, {server}: starting")
        try:
            result = _measure(server, sz, tmp)
        except Exception as err:  # noqa: BLE001 - recorded in the report, the others go on
            result = {"skipped": f"failed: {type(err).__name__}: {err}"}
            log(f"emulated cloud, {server}: {result['skipped']}")
        else:
            log(
                f"emulated cloud, {server}: 202 in {result['post_s'] * 1e3:.0f} ms, "
                f"{result['shards_per_s']:.0f} shards/s"
            )
        result["load_after"] = load()
        out["servers"][server] = result
    shards = 40 if sz is QUICK else 1_000
    walls = []
    for _ in range(3):
        t = time.perf_counter()
        sm.run(_spec(shards), backend="local", root=tmp / "local-cloud-baseline").wait()
        walls.append(time.perf_counter() - t)
    out["local_shards"] = shards
    out["local_shards_per_s"] = shards / median(walls)
    out["load_after"] = load()
    return out


# -- the report ----------------------------------------------------------------------------------


def _ms(s: float | None) -> str:
    return "-" if s is None else f"{s * 1e3:.0f} ms"


def _p50_p95(xs: list[float] | None) -> str:
    if not xs:
        return "not measured"
    return f"{_ms(_pct(xs, 0.5))} / {_ms(_pct(xs, 0.95))}"


def _cell(res: dict[str, Any], fn: Any) -> str:
    if "skipped" in res:
        return "skipped"
    try:
        return str(fn(res))
    except (KeyError, TypeError):
        return "-"


def _targets(cloud: dict[str, Any]) -> list[Target]:
    servers = cloud["servers"]
    name = next((s for s in reversed(SERVERS) if "skipped" not in servers.get(s, {})), None)
    if name is None:
        return []
    res = servers[name]
    on = f" ({name})"
    targets = []
    d = res.get("dispatch_s")
    shards = res["shards"]
    targets.append(
        Target(
            f"emulated cloud: {shards:,} shards dispatched{on}",
            f"under {DISPATCH_GOAL_S:.0f} s",
            _ms(d),
            d is not None and d < DISPATCH_GOAL_S,
            ""
            if d is not None and d < DISPATCH_GOAL_S
            else "submit to the dispatcher's `dispatched` line; see Emulated cloud",
        )
    )
    rate = res["shards_per_s"]
    targets.append(
        Target(
            f"emulated cloud: trivial shards completed per second{on}",
            f"at least {SHARDS_PER_S_GOAL:.0f}",
            f"{rate:.0f}",
            rate >= SHARDS_PER_S_GOAL,
            ""
            if rate >= SHARDS_PER_S_GOAL
            else f"{SHARDS_PER_S_GOAL / rate:.1f}x short: CPU per shard in the S3 server and "
            "the workers on 2 shared cores (see Emulated cloud)",
        )
    )
    complete = res.get("status_complete")
    p95 = _pct(complete, 0.95) if complete else None
    targets.append(
        Target(
            f"emulated cloud: status of a {res['status_shards']:,}-shard run, p95{on}",
            f"under {STATUS_P95_GOAL_S * 1e3:.0f} ms",
            _ms(p95) if p95 is not None else "not measured",
            p95 is not None and p95 < STATUS_P95_GOAL_S,
            ""
            if p95 is not None and p95 < STATUS_P95_GOAL_S
            else "every LIST walks the whole bucket in the emulated S3 server, and a status "
            "sends about 3 LISTs per 1,000 shards (see Emulated cloud)",
        )
    )
    return targets


def section(cloud: dict[str, Any]) -> Section:
    lines = ["## Emulated cloud", ""]
    if "skipped" in cloud:
        return [*lines, f"Skipped: {cloud['skipped']}.", ""], []
    servers = cloud["servers"]
    cols = list(SERVERS)
    first = next((servers[s] for s in cols if "skipped" not in servers[s]), None)
    if first is None:
        why = "; ".join(f"{s}: {servers[s]['skipped']}" for s in cols)
        return [*lines, f"Skipped: {why}.", ""], []
    shards, big = first["shards"], first["status_shards"]
    lines += [
        "The real orchestrator and worker binaries under `cargo lambda watch` "
        f"({cloud['instances']} instances per function, {SHARDS_PER_INVOKE} shards per worker "
        "invocation), with the emulation's event queue in front of the emulator's invoke API "
        "(an `Event` invoke is answered 202 at once and run from a queue, as Lambda does; the "
        "emulator alone runs it to completion before answering), and the run data on each S3 "
        "server in turn: moto's (one Python process) and s3s-fs (a Rust server over a folder; "
        "moto then serves only Glue). The client is the Python cloud backend; the runs' "
        "progress is read from the workers' log lines, not by polling status, which here would "
        "cost the S3 server more than the shards do (see below). Trivial shards: "
        f"`diag_sleep`, 0 µs, one point per shard; {shards:,} shards, "
        + ("one run." if first["repeats"] == 1 else f"median of {first['repeats']} runs."),
        "",
        "| measure | " + " | ".join(cols) + " | goal |",
        "|---|" + "---|" * len(cols) + "---|",
    ]

    def row(what: str, fn: Any, goal: str = "") -> None:
        lines.append(
            f"| {what} | " + " | ".join(_cell(servers[s], fn) for s in cols) + f" | {goal} |"
        )

    row("time to the 202 (`POST /runs` answered)", lambda r: _ms(r["post_s"]))
    row("`sm.run` returns (202, then the manifest read from S3)", lambda r: _ms(r["run_s"]))
    row(
        f"{shards:,} shards dispatched (submit to the dispatcher's `dispatched` log line)",
        lambda r: _ms(r["dispatch_s"]),
        f"under {DISPATCH_GOAL_S:.0f} s",
    )
    row(
        "worker invocations sent per second by that dispatcher",
        lambda r: f"{r['invocations_per_s']:,.0f}",
    )
    more = math.ceil(big / (SHARDS_PER_INVOKE * INVOKES_PER_DISPATCHER))
    row(
        f"{big:,} shards dispatched"
        + (f" (one dispatcher that starts {more} more)" if more > 1 else ""),
        lambda r: _ms(r["big_dispatch_s"]),
    )
    row(
        f"trivial shards completed per second ({shards:,}, submit to the last shard's log line)",
        lambda r: f"{r['shards_per_s']:.0f}",
        f"at least {SHARDS_PER_S_GOAL:.0f}",
    )
    row(
        f"status of the {big:,}-shard run while it runs, p50 / p95",
        lambda r: (
            f"{_p50_p95(r['status_running'])} ({len(r['status_running'])} polls, "
            f"{r['status_running_done']:,} shards done at the last)"
        ),
    )
    row(
        f"status of the complete {big:,}-shard run, p50 / p95 (20 polls)",
        lambda r: (
            _p50_p95(r.get("status_complete"))
            if r.get("status_complete")
            else f"not measured: cancelled after {r['big_cancelled_after_s']:.0f} s"
        ),
        f"p95 under {STATUS_P95_GOAL_S * 1e3:.0f} ms",
    )
    row(
        "one LIST of 1,000 keys (objects in the bucket then)",
        lambda r: f"{_ms(r['list_s'])} ({r['bucket_objects']:,})",
    )
    row(
        f"{big:,} trivial shards completed per second",
        lambda r: f"{big / r['big_wall_s']:.0f}" if "big_wall_s" in r else "-",
    )
    lines += [
        f"| `local` backend, same {cloud['local_shards']:,}-shard sweep, shards per second | "
        + " | ".join(f"{cloud['local_shards_per_s']:.0f}" for _ in cols)
        + " | |",
        "",
    ]
    kinds: list[str] = []
    for s in cols:
        for k in servers[s].get("cpu_per_1000", {}):
            if k not in kinds:
                kinds.append(k)
    if kinds:
        lines += [
            f"Where the time goes: CPU seconds per 1,000 trivial shards by process, over the "
            f"{shards:,}-shard runs (from `/proc/<pid>/stat`; in brackets the cores used on "
            "average over the run).",
            "",
            "| process | " + " | ".join(cols) + " |",
            "|---|" + "---:|" * len(cols),
        ]
        for k in kinds:
            cells = []
            for s in cols:
                per = servers[s].get("cpu_per_1000", {})
                cores = servers[s].get("cpu_cores", {})
                cells.append(f"{per[k]:.2f} s ({cores[k]:.2f})" if k in per else "-")
            lines.append(f"| {k} | " + " | ".join(cells) + " |")
        lines.append(
            "| all | "
            + " | ".join(
                f"{sum(servers[s].get('cpu_per_1000', {}).values()):.2f} s "
                f"({sum(servers[s].get('cpu_cores', {}).values()):.2f})"
                if "cpu_per_1000" in servers[s]
                else "-"
                for s in cols
            )
            + " |"
        )
        lines.append("")
    moto = servers.get("moto", {})
    if "requests_per_shard" in moto:
        lines += [
            f"S3 requests per shard (moto's request log): {moto['requests_per_shard']:.1f} "
            "(4 PUTs per shard: started marker, Parquet, shard marker, done tally; the "
            "manifest GET per invocation; the client's status polls).",
            "",
        ]
    for s in cols:
        if "skipped" in servers[s]:
            lines += [f"{s}: skipped ({servers[s]['skipped']}).", ""]
    lines += [
        "How to read it. *Dispatched* is the time from the submit to the orchestrator's "
        "`dispatched` log line (noted as it appears in the emulator's log): the dispatcher "
        "has then had a 202 for every worker `Event` invoke from the event queue, as it would "
        "from Lambda; the workers run afterwards. Without the event queue the emulator answers "
        "an `Event` invoke only when the worker has finished, so dispatch takes as long as the "
        "run and a run split among as many dispatchers as there are orchestrator instances "
        "leaves none to answer `GET /runs/{id}` until they finish. *Shards completed per "
        "second* is bounded by the CPU per shard of the S3 server, the workers and the "
        "emulator on two cores (in the table above). *Status* is `GET /runs/{id}` through the "
        "client: the orchestrator reads the run's done tallies (one LIST per 1,000 shards) "
        "and, for the straggler check, the tallies again and the started markers (another two "
        "LISTs per 1,000 shards) and one GET per running shard. Both emulated servers walk "
        "every object of the bucket for each LIST, whatever the prefix, so a LIST costs in "
        "proportion to everything stored (see the LIST row), and a status of a large run "
        "costs about three such LISTs per 1,000 shards; S3 reads only the prefix asked for. "
        "A client that waits on a large run polls once a second (`CloudRun.poll_s`), so here "
        "its polls alone can keep the S3 server busy and slow the run down.",
        "",
        "What this does not measure: Lambda cold starts (typically 100-300 ms for a small Rust "
        "binary on provided.al2023) and scaling rate (1,000 new environments per 10 s per "
        "function), S3's latency over the network (milliseconds, not loopback microseconds) "
        "and its per-prefix request rates, API Gateway, Lambda's retries of a failed `Event` "
        "invoke (the event queue logs and drops it), or parallelism beyond this machine's two "
        "cores, which every process of the emulation shares with the client (and with other "
        "work: see the load average above). In AWS throughput grows with concurrency; "
        "`sweep estimate` models the real fleet.",
        "",
    ]
    return lines, _targets(cloud)
