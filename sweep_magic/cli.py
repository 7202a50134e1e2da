"""The ``sweep`` command line: list experiments, validate specs, run sweeps.

Exit codes: 0 success, 1 run or storage failure, 2 bad spec or usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from .config import load_config
from .errors import (
    BackendError,
    QueryError,
    RunCancelledError,
    RunNotFoundError,
    SweepError,
)
from .estimate import add_cli_parser as _add_estimate_parser
from .estimate import cli_main as _estimate_main
from .experiments import Experiment, experiments
from .run import Run, RunStatus, open_run, resume, run, runs
from .spec import Spec

__all__ = ["main"]


def _experiment_dict(e: Experiment) -> dict[str, object]:
    return {
        "name": e.name,
        "description": e.description,
        "origin": e.origin,
        "sha256": e.sha256,
        "params": [vars(p) | {"choices": list(p.choices)} for p in e.params],
        "metrics": [vars(m) for m in e.metrics],
    }


def plural(count: int, word: str) -> str:
    """``1 point``, ``2 points``: a count and its noun, singular or plural."""
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def _param_cells(e: Experiment) -> list[tuple[str, str, str, str, str]]:
    """Name, type, default, allowed values and description of each parameter of ``e``."""
    return [
        (
            p.name,
            p.type,
            "required" if p.required else f"default {json.dumps(p.default)}",
            p.bounds or ", ".join(p.choices),
            p.description,
        )
        for p in e.params
    ]


def _column_widths(exps: Sequence[Experiment]) -> list[int]:
    """Widths of the parameter columns (all but the description) over ``exps``, so that the
    listing's columns line up from one experiment to the next."""
    rows = [row for e in exps for row in _param_cells(e)]
    return [max((len(row[i]) for row in rows), default=0) for i in range(4)]


def _print_experiment(e: Experiment, widths: Sequence[int] | None = None) -> None:
    widths = widths if widths is not None else _column_widths([e])
    print(f"{e.name}: {e.description}")
    print(f"  origin: {e.origin}" + (f", sha256 {e.sha256[:12]}" if e.sha256 else ""))
    for *cells, description in _param_cells(e):
        columns = "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
        print(f"  {columns}  {description}".rstrip())
    print("  metrics: " + ", ".join(f"{m.name} ({m.type})" for m in e.metrics))


def _print_experiments(as_json: bool) -> None:
    exps = experiments()
    if as_json:
        print(json.dumps([_experiment_dict(e) for e in exps], indent=2))
        return
    widths = _column_widths(exps)
    for e in exps:
        _print_experiment(e, widths)
        print()


def _summary(r: Run, elapsed: float) -> dict[str, object]:
    st = r.status()
    return {
        "run_id": r.run_id,
        "experiment": r.experiment,
        "root": str(r.root),
        "results": r.results_location,
        "failures": r.failures_location,
        "points": r.plan["points"],
        "rows": r.plan["rows"],
        "shards": r.plan["shards"],
        "rows_ok": st.rows_ok,
        "rows_failed": st.rows_failed,
        "elapsed_s": round(elapsed, 3),
    }


class _CtrlC:
    """Ctrl-C during ``sweep run`` and ``sweep resume``, installed before the run is created.

    The first SIGINT cancels the run's execution without raising anything: the wait ends by
    itself once the rows in progress are done (with :class:`RunCancelledError`), and the
    command prints how to resume. A SIGINT that comes while the run is still being created
    (or a Ray cluster reached) takes effect as soon as its handle exists. On the cloud backend,
    where Ctrl-C only stops waiting, it raises ``KeyboardInterrupt`` instead.

    Every later SIGINT is ignored until the process exits. Raised as ``KeyboardInterrupt``, a
    second Ctrl-C could cut short the wait for the engine's threads, and an interpreter that
    shuts down while they compute is aborted by CPython when they return to it (``FATAL:
    exception not rethrown``); one arriving after the interpreter has put the default handlers
    back would kill the process instead of letting it exit with 130. ``SIG_IGN``, unlike a
    Python handler, is kept through the shutdown."""

    def __init__(self) -> None:
        self.handle: Run | None = None
        self.stop_waiting_only = False
        self.interrupted = False
        self._acted = False
        self._previous: Any = None
        self._installed = False
        try:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._installed = True
        except ValueError:  # not on the main thread: Ctrl-C stays as it was
            pass

    def attach(self, handle: Run, *, stop_waiting_only: bool) -> None:
        """The run Ctrl-C stops from now on (at once, if Ctrl-C came already)."""
        self.handle = handle
        self.stop_waiting_only = stop_waiting_only
        if self.interrupted:
            self._act()

    def _on_sigint(self, signum: int, frame: object) -> None:
        if self.interrupted:  # caught before SIG_IGN took over, run by signal.signal below
            return
        self.interrupted = True
        _ignore_sigint()
        if self.handle is not None:
            self._act()

    def _act(self) -> None:
        if self._acted or self.handle is None:
            return
        self._acted = True
        if self.stop_waiting_only:
            raise KeyboardInterrupt
        # The execution (not Run.cancel, which also writes a cancel marker): the run stays
        # "incomplete", as after a single Ctrl-C in Python. The rows in progress finish.
        execution = self.handle._execution
        if execution is not None:
            execution.cancel()

    def release(self) -> None:
        """Puts the previous handler back, unless a Ctrl-C came: then the command is about to
        exit with 130, and a late Ctrl-C must not turn that into a traceback."""
        if self._installed and not self.interrupted:
            signal.signal(signal.SIGINT, self._previous)


def _attach_ctrl_c(args: argparse.Namespace, handle: Run, *, stop_waiting_only: bool) -> None:
    guard: _CtrlC | None = getattr(args, "ctrl_c", None)
    if guard is not None:
        guard.attach(handle, stop_waiting_only=stop_waiting_only)


def _ignore_sigint() -> None:
    """Ignores SIGINT from now on, without the race of ``signal.signal(SIGINT, SIG_IGN)``
    alone: a SIGINT the C handler catches just before that call changes the handler is then
    reported as "Signal 2 ignored due to race condition" with a traceback. The C library's
    ``signal()`` first stops the operating system from calling Python's handler at all; then
    ``signal.signal`` runs any SIGINT caught before (with the handler still in place) and
    records SIG_IGN, which Python keeps through its shutdown."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        libc.signal.restype = ctypes.c_void_p
        libc.signal.argtypes = (ctypes.c_int, ctypes.c_void_p)
        libc.signal(signal.SIGINT, 1)  # 1 = SIG_IGN
    except (OSError, AttributeError):  # no C library to call: only the small race remains
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _resume_hint(handle: Run, done: int) -> str:
    return (
        f"interrupted: {done} of {plural(handle.plan['shards'], 'shard')} finished and kept "
        f"under {handle.root}; finish with: sweep resume {handle.run_id} --root {handle.root}"
    )


def with_threshold(spec: Spec, max_failures: int | None, max_failure_rate: float | None) -> Spec:
    """``spec`` with the failure threshold given on the command line (``--max-failures``,
    ``--max-failure-rate``) in place of its own; validated as the spec fields are."""
    extra: dict[str, object] = {}
    if max_failures is not None:
        extra["max_failures"] = max_failures
    if max_failure_rate is not None:
        extra["max_failure_rate"] = max_failure_rate
    if not extra:
        return spec
    return Spec({**spec.normalized, **extra}, max_rows=spec.max_rows)


def _run(args: argparse.Namespace) -> int:
    spec = with_threshold(Spec.from_file(args.spec), args.max_failures, args.max_failure_rate)
    started = time.monotonic()
    backend = "cloud" if args.cloud else args.backend
    on_cloud = (backend or load_config().backend) == "cloud"
    handle = run(spec, backend=backend, root=args.root, threads=args.threads, address=args.address)
    shards = handle.plan["shards"]
    try:
        _attach_ctrl_c(args, handle, stop_waiting_only=on_cloud)
        if not args.json:
            replicates = spec.rows // max(spec.points, 1)
            print(
                f"run {handle.run_id}: {plural(spec.points, 'point')} x "
                f"{plural(replicates, 'replicate')} in {plural(shards, 'shard')} on "
                f"{backend or load_config().backend}",
                file=sys.stderr,
            )
            if "shard_choice" in handle.manifest:
                print(f"  {handle.manifest['shard_choice']}", file=sys.stderr)
        handle.wait(progress=not args.json and sys.stderr.isatty())
    except (KeyboardInterrupt, RunCancelledError):
        done = handle.status().shards_done
        if on_cloud:
            print(
                f"stopped waiting: {done} of {plural(shards, 'shard')} done; the run goes on "
                f"in the cloud: sweep status {handle.run_id} --cloud",
                file=sys.stderr,
            )
            return 130
        print(_resume_hint(handle, done), file=sys.stderr)
        return 130
    summary = _summary(handle, time.monotonic() - started)
    if args.json:
        print(json.dumps(summary))
        return 0
    import pandas as pd

    df = handle.to_pandas()
    with pd.option_context("display.width", 120, "display.max_columns", 30):
        print(df.drop(columns=["seed", "duration_us"]).head(args.rows).to_string(index=False))
    if len(df) > args.rows:
        print(f"... {len(df) - args.rows} more rows")
    print()
    print(
        f"rows ok: {summary['rows_ok']}, rows failed: {summary['rows_failed']}, "
        f"elapsed: {summary['elapsed_s']} s"
    )
    print(f"results:  {summary['results']}")
    if summary["rows_failed"]:
        print(f"failures: {summary['failures']}")
    if not on_cloud:
        print(f"manifest: {handle.run_dir / 'manifest.json'}")
    return 0


def _cloud(args: argparse.Namespace) -> bool:
    """``--cloud``, or ``SWEEP_BACKEND=cloud`` making it the default."""
    return bool(args.cloud) or load_config().backend == "cloud"


def _status_dict(st: RunStatus) -> dict[str, object]:
    return {
        "run_id": st.run_id,
        "state": st.state,
        "shards_total": st.shards_total,
        "shards_done": st.shards_done,
        "rows_total": st.rows_total,
        "rows_ok": st.rows_ok,
        "rows_failed": st.rows_failed,
        "elapsed_s": st.elapsed_s,
    }


def _status(args: argparse.Namespace) -> int:
    st = open_run(args.run_id, root=args.root, cloud=_cloud(args)).status()
    if args.json:
        print(json.dumps(_status_dict(st)))
    else:
        print(
            f"{st.run_id}: {st.state}, {st.shards_done}/{st.shards_total} shards, "
            f"{st.rows_ok} rows ok, {st.rows_failed} failed"
        )
    return 0


def _runs(args: argparse.Namespace) -> int:
    df = runs(root=args.root)
    if args.json:
        print(df.assign(created_at=df["created_at"].astype(str)).to_json(orient="records"))
    elif df.empty:
        print("no runs under", load_config().resolve_root(args.root))
    else:
        print(df.drop(columns=["spec_hash"]).to_string(index=False))
    return 0


def _resume(args: argparse.Namespace) -> int:
    backend = "cloud" if args.cloud else args.backend
    handle = resume(
        args.run_id, root=args.root, backend=backend, threads=args.threads, address=args.address
    )
    on_cloud = (backend or load_config().backend) == "cloud"
    try:
        _attach_ctrl_c(args, handle, stop_waiting_only=on_cloud)
        handle.wait(progress=not args.json and sys.stderr.isatty())
    except (KeyboardInterrupt, RunCancelledError):
        done = handle.status().shards_done
        if on_cloud:
            print(
                f"stopped waiting: {done} of {plural(handle.plan['shards'], 'shard')} done; the "
                f"run goes on in the cloud: sweep status {handle.run_id} --cloud",
                file=sys.stderr,
            )
        else:
            print(_resume_hint(handle, done), file=sys.stderr)
        return 130
    st = handle.status()
    if args.json:
        print(json.dumps(_status_dict(st)))
    else:
        print(
            f"{st.run_id}: {st.state}, {st.rows_ok} rows ok, {st.rows_failed} failed, "
            f"{st.elapsed_s:.2f} s"
        )
    return 0


def _retry(args: argparse.Namespace) -> int:
    from .run import retry_failed

    kinds: list[str] = args.error_kinds
    backend = "cloud" if args.cloud else args.backend
    on_cloud = (backend or load_config().backend) == "cloud"
    started = time.monotonic()
    handle = retry_failed(
        args.run_id,
        kinds,
        root=args.root,
        backend=backend,
        threads=args.threads,
        address=args.address,
    )
    try:
        _attach_ctrl_c(args, handle, stop_waiting_only=on_cloud)
        handle.wait(progress=not args.json and sys.stderr.isatty())
    except (KeyboardInterrupt, RunCancelledError):
        print(
            f"interrupted: rows recovered so far are kept; retry again with: sweep retry "
            f"{handle.run_id}" + ("" if on_cloud else f" --root {handle.root}"),
            file=sys.stderr,
        )
        return 130
    record = handle.retries()[-1] if not on_cloud else None
    st = handle.status()
    if args.json:
        print(json.dumps({**_status_dict(st), "retry": record}))
        return 0
    which = ", ".join(kinds) if kinds else "every error kind"
    if record is not None and record.get("rows_retried") is not None:
        retried, recovered = record["rows_retried"], record["rows_recovered"]
        print(
            f"retry {record['attempt']} of run {st.run_id} ({which}): "
            f"{plural(int(retried), 'row')} retried, {int(recovered):,} recovered, "
            f"{int(retried) - int(recovered):,} failed again; "
            f"{time.monotonic() - started:.2f} s"
        )
    print(f"{st.run_id}: {st.state}, {st.rows_ok:,} rows ok, {st.rows_failed:,} failed")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    handle = open_run(args.run_id, root=args.root, cloud=_cloud(args))
    st = handle.status()
    if st.state == "complete":
        # Nothing left to stop: a cancel marker would only make a finished run look stopped.
        print(f"run {handle.run_id} is already complete: nothing to cancel")
        return 0
    handle.cancel()
    print(f"cancel requested for {handle.run_id}; running shards stop before their next shard")
    return 0


def name_the_root(
    exc: RunNotFoundError, root: str | os.PathLike[str] | None, cloud: bool
) -> RunNotFoundError:
    """``exc`` with the place that was searched for the run added to its message."""
    config = load_config()
    if cloud:
        place = config.s3_root or config.api_url
        where = f"in the cloud deployment {place}" if place else "in the cloud deployment"
    else:
        place = str(config.resolve_root(root))
        where = f"under {place} (--root or SWEEP_ROOT chooses the root)"
    if place and place in exc.message:
        return exc
    return RunNotFoundError(f"{exc.message} {where}", exc.path)


def _query(args: argparse.Namespace) -> int:
    from .query import query, records_json

    df = query(args.sql, root=args.root, cloud=_cloud(args))
    if args.format == "csv":
        print(df.to_csv(index=False), end="")
    elif args.format == "json":
        # Exact floats: pandas' to_json keeps only 10 significant digits by default.
        print(records_json(df))
    else:
        print(df.to_string(index=False, max_rows=args.max_rows))
    return 0


def _validate(args: argparse.Namespace) -> int:
    spec = Spec.from_file(args.spec)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": True,
                    "valid": True,
                    "hash": spec.hash,
                    "points": spec.points,
                    "rows": spec.rows,
                    "shards": spec.shards,
                    "spec": spec.normalized,
                }
            )
        )
    else:
        print(
            f"ok: {spec.experiment}, {plural(spec.points, 'point')}, {plural(spec.rows, 'row')}, "
            f"{plural(spec.shards, 'shard')}, hash {spec.hash[:12]}"
        )
    return 0


def _kernel(args: argparse.Namespace) -> int:
    from . import rust_kernels

    if args.action == "new":
        crate = rust_kernels.new_kernel(args.name, args.dir)
        print(f"created kernel crate {crate}")
        print(f"  test:  cd {crate} && cargo test")
        print(f"  build: sweep kernel build {crate}")
        print(f"  run:   sweep run {crate / 'spec.yaml'} --kernel {crate}")
        return 0
    build = rust_kernels.build_kernel(args.crate, lambda_build=args.lambda_build, capture=False)
    experiment = rust_kernels.load_library(
        build.host.path, origin=str(build.crate), sha256=build.host.sha256
    )
    libraries = [
        {"platform": lib.platform, "path": str(lib.path), "sha256": lib.sha256, "glibc": lib.glibc}
        for lib in build.libraries
    ]
    if args.json:
        payload = {
            "name": experiment.name,
            "crate": str(build.crate),
            "package": build.package,
            "seconds": round(build.seconds, 3),
            "libraries": libraries,
            "experiment": _experiment_dict(experiment),
        }
        print(json.dumps(payload))
        return 0
    print(f"built kernel {experiment.name} from {build.crate} in {build.seconds:.1f} s")
    for lib in libraries:
        glibc = f" (needs glibc {lib['glibc']})" if lib["glibc"] else ""
        print(f"  {lib['platform']:<7} {lib['path']}{glibc}")
        print(f"          sha256 {lib['sha256']}")
    print()
    _print_experiment(experiment)
    return 0


def _interrupt(signum: int, frame: object) -> None:
    """SIGINT, SIGTERM and SIGHUP stop `sweep local-cloud up` alike (also when SIGINT was
    inherited as ignored, as a shell does for background jobs)."""
    raise KeyboardInterrupt


def _local_cloud(args: argparse.Namespace) -> int:
    import signal

    from .local_cloud import LocalCloud

    features = tuple(f for f in args.features.split(",") if f) if args.features else ()
    cloud = LocalCloud(concurrency=args.concurrency, features=features)
    stops = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
    previous = {signum: signal.signal(signum, _interrupt) for signum in stops}
    up = False
    try:
        # Leaving the `with` block, however it is left, stops every process the emulation
        # started (LocalCloud.stop); the first start builds the Lambdas, which takes minutes.
        with cloud:
            up = True
            print("local cloud emulation is up; in another shell:", file=sys.stderr)
            for key, value in cloud.client_env().items():
                print(f"export {key}={value}")
            print(f"(Ctrl-C stops it; logs in {cloud.workdir})", file=sys.stderr)
            sys.stdout.flush()
            exited = cloud.wait()
            print(f"error: {exited} exited; see {cloud.workdir}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print("local cloud emulation stopped", file=sys.stderr)
        return 0 if up else 130
    finally:
        for signum, handler in previous.items():
            if handler is not None:  # None: a handler installed outside Python, kept as is
                signal.signal(signum, handler)


def threads_option(text: str) -> int:
    """``--threads``: a whole number, at least 1, or 0 for every core (as ``SWEEP_THREADS``)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be at least 1, or 0 for all cores; got {n}")
    return n


def _error_dict(exc: SweepError, *, validating: bool) -> dict[str, object]:
    kinds = {BackendError: "backend", QueryError: "query"}
    kind = exc.kind or next((k for t, k in kinds.items() if isinstance(exc, t)), "error")
    payload: dict[str, object] = {"ok": False}
    if validating:
        payload["valid"] = False
    return payload | {"error": exc.message, "kind": kind, "path": exc.path}


def _parser() -> argparse.ArgumentParser:
    # Options shared by several commands, each defined once (argparse parent parsers).
    root = argparse.ArgumentParser(add_help=False)
    root.add_argument(
        "--root", default=None, help="result root (default: SWEEP_ROOT or ./sweep-data)"
    )
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", help="print JSON")
    cloud = argparse.ArgumentParser(add_help=False)
    cloud.add_argument(
        "--cloud",
        action="store_true",
        help="the cloud backend (SWEEP_API_URL, SWEEP_S3_ROOT; queries on Athena)",
    )
    execute = argparse.ArgumentParser(add_help=False)
    execute.add_argument(
        "--backend", default=None, help="backend (default: SWEEP_BACKEND or local)"
    )
    execute.add_argument(
        "--threads",
        type=threads_option,
        default=None,
        help="worker threads, 0 for all cores (default: SWEEP_THREADS or all cores)",
    )
    execute.add_argument(
        "--address", default=None, help="Ray cluster address (default: RAY_ADDRESS or local)"
    )
    kernels = argparse.ArgumentParser(add_help=False)
    kernels.add_argument(
        "--kernel",
        dest="kernels",
        action="append",
        default=[],
        metavar="PATH",
        help="load a Rust kernel first: a crate folder (built) or a library file; repeatable "
        "(also SWEEP_KERNELS=path:path)",
    )

    parser = argparse.ArgumentParser(prog="sweep", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "experiments",
        parents=[kernels, as_json],
        help="list experiments, their parameters and metrics",
    )
    sub.add_parser(
        "schema",
        parents=[kernels],
        help="print the JSON Schema of a spec (with --kernel or SWEEP_KERNELS: of their "
        "experiments too)",
    )

    p = sub.add_parser(
        "validate", parents=[kernels, as_json], help="check a spec file without running it"
    )
    p.add_argument("spec", help="spec file (.yaml, .json or .toml)")

    p = sub.add_parser(
        "run",
        parents=[root, execute, cloud, kernels, as_json],
        help="run a sweep and wait for it",
    )
    p.add_argument("spec", help="spec file (.yaml, .json or .toml)")
    p.add_argument("--rows", type=int, default=10, help="result rows to print (default 10)")
    p.add_argument(
        "--max-failures",
        type=int,
        default=None,
        metavar="N",
        help="stop the run (state failed) once more than N rows have failed (overrides the "
        "spec's max_failures)",
    )
    p.add_argument(
        "--max-failure-rate",
        type=float,
        default=None,
        metavar="R",
        help="stop the run once more than this fraction of its rows have failed, in (0, 1] "
        "(overrides the spec's max_failure_rate)",
    )

    p = sub.add_parser("status", parents=[root, cloud, as_json], help="progress of a run")
    p.add_argument("run_id")

    sub.add_parser("runs", parents=[root, as_json], help="list runs under the root")

    p = sub.add_parser(
        "resume",
        parents=[root, execute, cloud, kernels, as_json],
        help="compute the shards of a run that have no marker",
    )
    p.add_argument("run_id")

    p = sub.add_parser(
        "retry",
        parents=[root, execute, cloud, kernels, as_json],
        help="compute a run's failed rows again, into the same run",
    )
    p.add_argument("run_id")
    p.add_argument(
        "--error-kind",
        dest="error_kinds",
        action="append",
        default=[],
        metavar="KIND",
        help="retry only failed rows of this error_kind (repeatable; default: every kind)",
    )

    p = sub.add_parser(
        "query",
        parents=[root, cloud],
        help="run Athena-dialect SQL over the results (DuckDB locally)",
    )
    p.add_argument("sql", help='e.g. "SELECT run_id, count(*) FROM results_gbm_option GROUP BY 1"')
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--max-rows", type=int, default=60, help="rows shown in table format")

    p = sub.add_parser("cancel", parents=[root, cloud], help="ask a running run to stop")
    p.add_argument("run_id")
    _add_estimate_parser(sub)

    p = sub.add_parser("kernel", help="write and build kernels in Rust")
    actions = p.add_subparsers(dest="action", required=True)
    k = actions.add_parser("new", help="scaffold a kernel crate DIR/NAME")
    k.add_argument("name", help="kernel (and crate) name, snake_case")
    k.add_argument("--dir", default=".", help="folder to create it in (default: .)")
    k = actions.add_parser(
        "build",
        parents=[as_json],
        help="build a kernel crate; print its library's path, sha256 and declarations",
    )
    k.add_argument("crate", help="the crate folder")
    k.add_argument(
        "--lambda",
        dest="lambda_build",
        action="store_true",
        help="also build a Lambda-compatible library (x86_64, glibc <= 2.34; needs cargo-lambda)",
    )

    p = sub.add_parser(
        "local-cloud",
        help="run the cloud path here: S3 server + both Lambdas under cargo lambda watch",
    )
    p.add_argument(
        "action",
        choices=["up"],
        help="start it and wait; Ctrl-C or SIGTERM stops it and every process it started",
    )
    p.add_argument("--concurrency", type=int, default=4, help="instances per function")
    p.add_argument(
        "--features",
        default="",
        help="cargo features of the Lambda build, comma-separated (the tests use "
        "fault-injection, so that their builds are shared)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sweep`` command."""
    args = _parser().parse_args(argv)
    # Ctrl-C during `run` and `resume` stops the run: see _CtrlC.
    args.ctrl_c = _CtrlC() if args.command in ("run", "resume", "retry") else None
    try:
        if getattr(args, "kernels", None) is not None:
            from .rust_kernels import load_env_kernels, load_kernels

            # SWEEP_KERNELS first, so a --kernel of the same name is the one that stays.
            load_env_kernels()
            load_kernels(args.kernels)
        if args.command == "experiments":
            _print_experiments(args.json)
            return 0
        if args.command == "schema":
            from . import _native

            # The built-ins alone (the committed schema/spec.schema.json), or with the kernels
            # this command loaded.
            loaded = bool(args.kernels) or bool(os.environ.get("SWEEP_KERNELS"))
            print(_native.spec_schema_json(include_python=loaded), end="")
            return 0
        commands = {
            "validate": _validate,
            "run": _run,
            "status": _status,
            "runs": _runs,
            "resume": _resume,
            "retry": _retry,
            "cancel": _cancel,
            "query": _query,
            "estimate": _estimate_main,
            "local-cloud": _local_cloud,
            "kernel": _kernel,
        }
        return commands[args.command](args)
    except SweepError as exc:
        if isinstance(exc, RunNotFoundError) and getattr(args, "run_id", None):
            exc = name_the_root(exc, args.root, _cloud(args))
        print(f"error: {exc}", file=sys.stderr)
        if getattr(args, "json", False):
            # --json promises JSON on stdout, failures included.
            print(json.dumps(_error_dict(exc, validating=args.command == "validate")))
        return exc.exit_code
    except KeyboardInterrupt:
        # A later Ctrl-C must not cut short the clean-up at exit (see _CtrlC).
        _ignore_sigint()
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        sys.stderr.close()
        return 0
    finally:
        if args.ctrl_c is not None:
            args.ctrl_c.release()


if __name__ == "__main__":
    sys.exit(main())
