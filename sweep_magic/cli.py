"""The ``sweep`` command line: list experiments, validate specs, run sweeps.

Exit codes: 0 success, 1 run or storage failure, 2 bad spec or usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from .errors import RunCancelledError, SpecError, SweepError
from .experiments import experiments
from .run import Run, run
from .spec import Spec

__all__ = ["main"]


def _print_experiments(as_json: bool) -> None:
    exps = experiments()
    if as_json:
        payload = [
            {
                "name": e.name,
                "description": e.description,
                "params": [vars(p) | {"choices": list(p.choices)} for p in e.params],
                "metrics": [vars(m) for m in e.metrics],
            }
            for e in exps
        ]
        print(json.dumps(payload, indent=2))
        return
    for e in exps:
        print(f"{e.name}: {e.description}")
        for p in e.params:
            default = "required" if p.required else f"default {json.dumps(p.default)}"
            allowed = p.bounds or (", ".join(p.choices) if p.choices else "")
            print(f"  {p.name:<14} {p.type:<6} {default:<18} {allowed:<22} {p.description}")
        print("  metrics: " + ", ".join(f"{m.name} ({m.type})" for m in e.metrics))
        print()


def _summary(r: Run, elapsed: float) -> dict[str, object]:
    counts = r.counts()
    return {
        "run_id": r.run_id,
        "experiment": r.experiment,
        "root": str(r.root),
        "results": str(r.results_dir),
        "failures": str(r.failures_dir),
        "points": r.plan["points"],
        "rows": r.plan["rows"],
        "shards": r.plan["shards"],
        "rows_ok": counts["rows_ok"],
        "rows_failed": counts["rows_failed"],
        "elapsed_s": round(elapsed, 3),
    }


def _run(args: argparse.Namespace) -> int:
    spec = Spec.from_file(args.spec)
    started = time.monotonic()
    handle = run(spec, backend=args.backend, root=args.root, threads=args.threads)
    if not args.json:
        print(
            f"run {handle.run_id}: {spec.points} points x {spec.rows // max(spec.points, 1)} "
            f"replicates in {spec.shards} shards on {args.backend or 'local'}",
            file=sys.stderr,
        )
    try:
        handle.wait()
    except (KeyboardInterrupt, RunCancelledError):
        done = handle.counts()["shards_done"]
        print(
            f"interrupted: {done} of {spec.shards} shards finished and kept under {handle.root}",
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
    print(f"manifest: {handle.run_dir / 'manifest.json'}")
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sweep", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("experiments", help="list experiments, their parameters and metrics")
    p.add_argument("--json", action="store_true", help="print the registry as JSON")

    sub.add_parser("schema", help="print the JSON Schema of a spec")

    p = sub.add_parser("validate", help="check a spec file without running it")
    p.add_argument("spec", help="spec file (.yaml, .json or .toml)")
    p.add_argument("--json", action="store_true", help="print the normalized spec as JSON")

    p = sub.add_parser("run", help="run a sweep and wait for it")
    p.add_argument("spec", help="spec file (.yaml, .json or .toml)")
    p.add_argument("--backend", default=None, help="backend (default: SWEEP_BACKEND or local)")
    p.add_argument("--root", default=None, help="result root (default: SWEEP_ROOT or ./sweep-data)")
    p.add_argument("--threads", type=int, default=None, help="worker threads (default: all cores)")
    p.add_argument("--rows", type=int, default=10, help="result rows to print (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON summary object")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sweep`` command."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "experiments":
            _print_experiments(args.json)
            return 0
        if args.command == "schema":
            from . import _native

            print(_native.spec_schema_json(), end="")
            return 0
        if args.command == "validate":
            return _validate(args)
        return _run(args)
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SweepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
