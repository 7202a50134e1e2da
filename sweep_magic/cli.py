"""The ``sweep`` command line: list experiments, validate specs, run sweeps.

Exit codes: 0 success, 1 run or storage failure, 2 bad spec or usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from .config import load_config
from .errors import (
    RunCancelledError,
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


def _print_experiment(e: Experiment) -> None:
    print(f"{e.name}: {e.description}")
    print(f"  origin: {e.origin}" + (f", sha256 {e.sha256[:12]}" if e.sha256 else ""))
    for p in e.params:
        default = "required" if p.required else f"default {json.dumps(p.default)}"
        allowed = p.bounds or (", ".join(p.choices) if p.choices else "")
        print(f"  {p.name:<14} {p.type:<6} {default:<18} {allowed:<22} {p.description}")
    print("  metrics: " + ", ".join(f"{m.name} ({m.type})" for m in e.metrics))


def _print_experiments(as_json: bool) -> None:
    exps = experiments()
    if as_json:
        print(json.dumps([_experiment_dict(e) for e in exps], indent=2))
        return
    for e in exps:
        _print_experiment(e)
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


def _run(args: argparse.Namespace) -> int:
    spec = Spec.from_file(args.spec)
    started = time.monotonic()
    backend = "cloud" if args.cloud else args.backend
    on_cloud = (backend or load_config().backend) == "cloud"
    handle = run(spec, backend=backend, root=args.root, threads=args.threads, address=args.address)
    if not args.json:
        print(
            f"run {handle.run_id}: {spec.points} points x {spec.rows // max(spec.points, 1)} "
            f"replicates in {handle.plan['shards']} shards on {backend or load_config().backend}",
            file=sys.stderr,
        )
        if "shard_choice" in handle.manifest:
            print(f"  {handle.manifest['shard_choice']}", file=sys.stderr)
    shards = handle.plan["shards"]
    try:
        handle.wait(progress=not args.json and sys.stderr.isatty())
    except (KeyboardInterrupt, RunCancelledError):
        done = handle.status().shards_done
        if on_cloud:
            print(
                f"stopped waiting: {done} of {shards} shards done; the run goes on in the "
                f"cloud: sweep status {handle.run_id} --cloud",
                file=sys.stderr,
            )
            return 130
        print(
            f"interrupted: {done} of {shards} shards finished and kept under {handle.root}; "
            f"finish with: sweep resume {handle.run_id} --root {handle.root}",
            file=sys.stderr,
        )
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
    try:
        handle.wait(progress=sys.stderr.isatty())
    except (KeyboardInterrupt, RunCancelledError):
        print(f"interrupted again: {handle.status().shards_done} shards done", file=sys.stderr)
        return 130
    st = handle.status()
    print(json.dumps(_status_dict(st)) if args.json else f"{st.run_id}: {st.state}")
    return 0


def _cancel(args: argparse.Namespace) -> int:
    handle = open_run(args.run_id, root=args.root, cloud=_cloud(args))
    handle.cancel()
    print(f"cancel requested for {handle.run_id}; running shards stop before their next shard")
    return 0


def _query(args: argparse.Namespace) -> int:
    from .query import query

    df = query(args.sql, root=args.root, cloud=_cloud(args))
    if args.format == "csv":
        print(df.to_csv(index=False), end="")
    elif args.format == "json":
        print(df.to_json(orient="records", date_format="iso"))
    else:
        print(df.to_string(index=False, max_rows=args.max_rows))
    return 0


def _validate(args: argparse.Namespace) -> int:
    spec = Spec.from_file(args.spec)
    if args.json:
        print(
            json.dumps(
                {
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
            f"ok: {spec.experiment}, {spec.points} points, {spec.rows} rows, "
            f"{spec.shards} shards, hash {spec.hash[:12]}"
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
        "--threads", type=int, default=None, help="worker threads (default: all cores)"
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
            "cancel": _cancel,
            "query": _query,
            "estimate": _estimate_main,
            "local-cloud": _local_cloud,
            "kernel": _kernel,
        }
        return commands[args.command](args)
    except SweepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
