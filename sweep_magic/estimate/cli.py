"""``sweep estimate SPEC`` and ``%sweep estimate``: the same options, parsed into the
estimate's assumptions; the report is printed (or displayed in a notebook)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import SpecError, SweepError
from ..spec import Spec
from .assumptions import LAMBDA_GB_SECOND_USD, CloudAssumptions, RayAssumptions
from .calibration import DEFAULT_TIME_LIMIT_S, TIME_LIMIT_ENV
from .models import estimate
from .report import Estimate

__all__ = ["add_cli_parser", "cli_main", "magic_main"]


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0 seconds, got {text}")
    return value


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _add_options(p: argparse.ArgumentParser) -> None:
    d = CloudAssumptions()
    p.add_argument("--cores", type=int, default=None, help="local threads (default: all cores)")
    p.add_argument("--ray-nodes", type=int, default=4, help="Ray cluster nodes (default 4)")
    p.add_argument("--ray-cores", type=int, default=None, help="CPUs per Ray node (default: here)")
    p.add_argument("--node-hour-usd", type=float, default=None, help="price of a Ray node-hour")
    p.add_argument(
        "--concurrency",
        type=int,
        default=d.account_concurrency,
        help=f"Lambda account concurrency (default {d.account_concurrency})",
    )
    p.add_argument(
        "--memory-mb", type=int, default=d.memory_mb, help=f"Lambda memory (default {d.memory_mb})"
    )
    p.add_argument("--arch", choices=sorted(LAMBDA_GB_SECOND_USD), default=d.architecture)
    p.add_argument(
        "--cold-start",
        type=float,
        default=d.cold_start_s,
        help=f"cold start seconds (default {d.cold_start_s})",
    )
    p.add_argument(
        "--cpu-ratio",
        type=float,
        default=d.cpu_ratio,
        help="seconds on a Lambda vCPU per second on a core here (default 1)",
    )
    p.add_argument(
        "--shards-per-invoke",
        type=int,
        default=d.shards_per_invoke,
        help=f"shards per Lambda invocation (default {d.shards_per_invoke})",
    )
    p.add_argument(
        "--budget",
        type=_seconds,
        default=2.0,
        help="seconds the calibration aims to spend (default 2; at least 3 rows are timed)",
    )
    p.add_argument(
        "--time-limit",
        type=_seconds,
        default=None,
        metavar="S",
        help=f"most seconds the calibration may take, whatever it has timed by then (default "
        f"{TIME_LIMIT_ENV} or {DEFAULT_TIME_LIMIT_S:g}; the row in progress still finishes)",
    )
    p.add_argument("--root", default=None, help="folder for the temporary calibration run")
    p.add_argument("--json", action="store_true", help="print the estimate as JSON")


def add_cli_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Adds ``sweep estimate SPEC`` to the ``sweep`` command's subparsers."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "estimate",
        help="predict wall time and cost on local, ray and cloud from a calibration sample",
    )
    p.add_argument("spec", help="spec file (.yaml, .json or .toml)")
    _add_options(p)
    return p


def _from_args(spec: Spec, args: argparse.Namespace) -> Estimate:
    cloud = CloudAssumptions(
        account_concurrency=args.concurrency,
        memory_mb=args.memory_mb,
        architecture=args.arch,
        cold_start_s=args.cold_start,
        cpu_ratio=args.cpu_ratio,
        shards_per_invoke=args.shards_per_invoke,
    )
    ray = RayAssumptions(cores_per_node=args.ray_cores, node_hour_usd=args.node_hour_usd)
    return estimate(
        spec,
        cores=args.cores,
        ray_nodes=args.ray_nodes,
        ray=ray,
        cloud=cloud,
        root=args.root,
        budget_s=args.budget,
        time_limit_s=args.time_limit,
        progress=_to_stderr,
    )


def cli_main(args: argparse.Namespace) -> int:
    """Runs ``sweep estimate`` with parsed ``args``; prints the report (or JSON), returns 0.

    Raises :class:`SpecError` / :class:`SweepError` for the caller to turn into exit codes.
    """
    result = _from_args(Spec.from_file(args.spec), args)
    print(json.dumps(result.to_dict(), indent=2) if args.json else result)
    return 0


class _MagicParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise SweepError(f"%sweep estimate: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if message:
            raise SweepError(message.strip())
        raise SweepError("%sweep estimate: see %sweep estimate -h")


def magic_main(line: str, cell: str | None = None) -> None:
    """``%sweep estimate -f SPEC [options]`` or ``%%sweep estimate [options]`` with the spec
    (YAML) as the cell body. Displays the report; errors are :class:`SweepError`."""
    import shlex

    parser = _MagicParser(prog="%sweep estimate", add_help=False)
    parser.add_argument("-f", "--file", default=None)
    parser.add_argument("spec", nargs="?", default=None)
    _add_options(parser)
    words = shlex.split(line)
    if {"-h", "--help"} & set(words):
        print(parser.format_help())
        return
    args = parser.parse_args(words)
    source = args.file or args.spec
    body = cell if cell is not None and cell.strip() != "" else None
    if source and body is not None:
        raise SweepError("%%sweep estimate: give the spec in the cell or with -f, not both")
    if source:
        spec = Spec.from_file(source)
    elif body is not None:
        spec = Spec.from_text(body, "yaml")
    else:
        raise SpecError("%sweep estimate: give a spec file (-f FILE) or the spec in the cell")
    result = _from_args(spec, args)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    try:
        from IPython.display import display
    except ImportError:
        print(result)
        return
    display(result)  # type: ignore[no-untyped-call]
